/* psl.c: being written */
typedef int am_stub_psl;
