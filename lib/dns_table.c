/* dns_table.c: to be written */
typedef int am_stub_dns_table;
