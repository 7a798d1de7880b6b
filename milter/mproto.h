/*
 * mproto.h - the milter protocol's wire format, for our own engine
 * (engine.c): frames in, payloads decoded, replies built. No I/O and no
 * state: everything here is a function of its arguments, and every length
 * is checked against the buffer it describes (fuzz/fuzz-mproto.c).
 *
 * A frame is a 4-byte big-endian length, then that many bytes: the
 * command letter (SMFIC_* from the MTA, SMFIR_* from us) and its payload.
 * Strings in payloads end in NUL.
 */
#ifndef AM_MPROTO_H
#define AM_MPROTO_H

#include <stddef.h>
#include <stdint.h>

/* the longest frame (command letter and payload) we take: libmilter's
 * largest data size (SMFIP_MDS_1M) and room for a header's name. A longer
 * one closes the connection. */
#define MPROTO_MAX_FRAME (1024 * 1024 + 1024)

/* the macro stages (SMFIM_*: connect, helo, envfrom, envrcpt, data, eom,
 * eoh) */
#define MPROTO_NSTAGES 7

struct mproto_frame {
	char cmd;
	const unsigned char *data;  /* the payload, len bytes */
	size_t len;
};

/* mproto_next - the frame at the start of buf[0..len): 1 with *f and
 * *used (bytes of the frame, length included); 0: incomplete, *used the
 * bytes the whole frame needs (0 while the length is incomplete); -1: a
 * length of 0 or over MPROTO_MAX_FRAME */
int mproto_next(const unsigned char *buf, size_t len, struct mproto_frame *f,
    size_t *used);

/* mproto_strings - split a payload of NUL-terminated strings into v[]
 * (at most max); the count, or -1 when the payload does not end in NUL
 * or holds more than max */
int mproto_strings(const unsigned char *data, size_t len, const char **v,
    size_t max);

/* mproto_optneg - version, actions and protocol steps of an OPTNEG
 * payload; 0, or -1 when it is shorter than 12 bytes */
int mproto_optneg(const struct mproto_frame *f, uint32_t *version,
    uint32_t *actions, uint32_t *protocol);

/* mproto_connect - a CONNECT payload: the host name and the client's
 * address as text, normalized (ip[0] == '\0' when not an IP connection or
 * not a valid address); 0, or -1 when malformed */
int mproto_connect(const struct mproto_frame *f, const char **host,
    char *ip, size_t iplen);

/* mproto_stage - the SMFIM_* stage of the command a DEFINE_MACRO names
 * (its first payload byte), or -1 for one we do not keep */
int mproto_stage(char cmd);

/* mproto_macro - a macro's value in a DEFINE_MACRO payload without its
 * stage byte (name, NUL, value, NUL, ...); "{x}" and "x" are the same
 * name; NULL when absent or the payload is cut */
const char *mproto_macro(const unsigned char *data, size_t len,
    const char *name);

/* an output buffer of frames */
struct mproto_buf {
	unsigned char *p;
	size_t len, cap;
	size_t off;        /* written out so far */
	size_t frame;      /* where the open frame starts */
};

/* mproto_begin - open a frame of command cmd */
void mproto_begin(struct mproto_buf *b, char cmd);
void mproto_add(struct mproto_buf *b, const void *p, size_t n);
void mproto_add_u32(struct mproto_buf *b, uint32_t v);
/* mproto_add_str - s and its NUL */
void mproto_add_str(struct mproto_buf *b, const char *s);
/* mproto_end - close the open frame (its length) */
void mproto_end(struct mproto_buf *b);
/* mproto_simple - a frame without payload */
void mproto_simple(struct mproto_buf *b, char cmd);
/* mproto_reply_text - "rcode xcode text" as libmilter's smfi_setreply()
 * makes it, into out; 0, or -1 when rcode is not 4xx/5xx or the text
 * holds a line end */
int mproto_reply_text(const char *rcode, const char *xcode, const char *text,
    char *out, size_t outlen);
void mproto_buf_free(struct mproto_buf *b);

#endif
