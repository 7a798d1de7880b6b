#!/bin/sh
exec "${top_builddir:-.}/t/dmarc-suite"
