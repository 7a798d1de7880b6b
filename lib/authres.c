/* authres.c: to be written */
typedef int am_stub_authres;
