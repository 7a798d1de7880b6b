/* cidr.c: to be written */
typedef int am_stub_cidr;
