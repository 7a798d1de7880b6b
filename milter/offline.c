typedef int am_stub_offline;
