#!/bin/sh
exec "${top_builddir:-.}/t/dkim-suite"
