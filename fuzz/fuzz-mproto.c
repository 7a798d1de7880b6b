/*
 * fuzz-mproto.c - libFuzzer target for milter/mproto.c, the wire format
 * of our own milter engine (the default): the input
 * is what an MTA (or anyone) writes on the milter socket. It is cut into
 * frames whole and again fed a byte at a time: both must give the same
 * frames, and a refused length must be one the limit refuses. Each frame
 * is decoded as its command letter says (strings, OPTNEG, CONNECT, macros
 * looked up by every name the daemon asks for), and copied into a reply
 * frame that must cut back to the same command and payload. Any
 * disagreement aborts.
 *
 * mproto.c is compiled in here (it lives in milter/, which make fuzz does
 * not build).
 */
#ifdef FUZZ_SMOKE
#define LLVMFuzzerTestOneInput fuzz_mproto
#endif
#include "../milter/mproto.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_INPUT (256 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_names[] = {
	"j", "{daemon_name}", "{client_addr}", "i", "{auth_authen}", "{i}",
	"daemon_name", "",
};

/* check_frame - decode one frame every way that applies */
static void
check_frame(const struct mproto_frame *f)
{
	const char *v[16], *host;
	char ip[64];
	uint32_t a, b, c;
	struct mproto_buf out = {0};
	struct mproto_frame g;
	size_t used;
	int n = mproto_strings(f->data, f->len, v, 16);

	if (n > 16 || (n >= 0 && f->len == 0))
		abort();
	for (int i = 0; i < n; i++)
		if ((const unsigned char *)v[i] < f->data ||
		    (const unsigned char *)v[i] + strlen(v[i]) >= f->data + f->len)
			abort();
	if (mproto_optneg(f, &a, &b, &c) == 0 && f->len < 12)
		abort();
	if (mproto_connect(f, &host, ip, sizeof(ip)) == 0 && ip[0] != '\0' &&
	    strlen(ip) >= sizeof(ip))
		abort();
	if (f->len > 0 && mproto_stage((char)f->data[0]) >= MPROTO_NSTAGES)
		abort();
	for (size_t i = 0; i < sizeof(fuzz_names) / sizeof(fuzz_names[0]); i++) {
		const char *m = f->len > 0 ?
		    mproto_macro(f->data + 1, f->len - 1, fuzz_names[i]) : NULL;

		if (m != NULL && ((const unsigned char *)m < f->data + 1 ||
		    (const unsigned char *)m + strlen(m) >= f->data + f->len))
			abort();
	}
	/* the frame again, as the engine builds its replies */
	mproto_begin(&out, f->cmd);
	mproto_add(&out, f->data, f->len);
	mproto_end(&out);
	if (mproto_next(out.p, out.len, &g, &used) != 1 || used != out.len ||
	    g.cmd != f->cmd || g.len != f->len ||
	    memcmp(g.data, f->data, f->len) != 0)
		abort();
	mproto_buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mproto_frame f, g;
	size_t off = 0, used, frames = 0, got;
	unsigned char *buf;
	char reply[600];
	int rc = 0;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	while (off < size &&
	    (rc = mproto_next(data + off, size - off, &f, &used)) == 1) {
		check_frame(&f);
		off += used;
		frames++;
	}
	if (rc < 0) {
		uint32_t n = (uint32_t)data[off] << 24 | (uint32_t)data[off + 1] << 16 |
		    (uint32_t)data[off + 2] << 8 | data[off + 3];

		if (n != 0 && n <= MPROTO_MAX_FRAME)
			abort();
	}
	if (rc == 0 && off < size && used != 0 && used <= size - off)
		abort();  /* incomplete, yet the whole frame was there */
	/* the same bytes arriving one at a time, as from a slow socket */
	buf = malloc(size + 1);
	if (buf == NULL)
		abort();
	got = 0;
	off = 0;
	for (size_t i = 0; i < size; i++) {
		buf[got++] = data[i];
		rc = mproto_next(buf + off, got - off, &g, &used);
		if (rc < 0)
			break;
		if (rc == 1) {
			if (frames == 0)
				abort();
			frames--;
			off += used;
		}
	}
	if (rc >= 0 && frames != 0)
		abort();
	free(buf);
	/* the reply text from the input's first line */
	if (size > 0 && size < 400) {
		char text[400];

		memcpy(text, data, size);
		text[size] = '\0';
		if (mproto_reply_text("550", "5.7.1", text, reply, sizeof(reply)) == 0 &&
		    (strncmp(reply, "550 5.7.1 ", 10) != 0 || strpbrk(reply, "\r\n")))
			abort();
		if (mproto_reply_text(text, NULL, "x", reply, sizeof(reply)) == 0 &&
		    (text[0] != '4' && text[0] != '5'))
			abort();
	}
	return 0;
}
