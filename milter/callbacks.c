typedef int am_stub_callbacks;
