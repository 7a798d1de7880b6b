typedef int am_stub_fuzz_spf_record;
