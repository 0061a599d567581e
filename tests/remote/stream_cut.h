/* What the stream tests share about a stream whose peer was killed: how
 * the loss shows, whether at a write or only at the close. */
#ifndef TR_TESTS_REMOTE_STREAM_CUT_H
#define TR_TESTS_REMOTE_STREAM_CUT_H

#include "common/check.h"
#include "troupe/stream.h"

/* `rv` is the last write's result after the cut: 0 or TR_EAGAIN when no
 * write has seen it yet, so the close must report it; otherwise the
 * write's error, which the stream must keep, and the stream is cancelled.
 * Returns the error the stream ended with. */
static inline int stream_end_after_cut(tr_stream *s, int rv)
{
    if (!rv || rv == TR_EAGAIN) {
        tr_future *f;
        rv = tr_stream_close(s, &f);
        if (!rv) {
            rv = tr_future_get(f, WAIT_NS);
            tr_future_release(f);
        }
        return rv;
    }
    const char *why;
    cr_assert_eq(tr_stream_error(s, &why), rv);
    TC_LOG("the write failed: %s", why);
    tr_stream_cancel(s, NULL);
    return rv;
}

#endif
