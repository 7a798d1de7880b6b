typedef int am_stub_daemon;
