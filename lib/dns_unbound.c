/* dns_unbound.c: to be written */
typedef int am_stub_dns_unbound;
