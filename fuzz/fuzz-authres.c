typedef int am_stub_fuzz_authres;
