/* Remote tells' block ring (remote/blocks.h): what it keeps and what it
 * frees. Tells through it are read back byte for byte by the value matrix
 * (values_test.c); tests/stress/blocks.c races takers and the giver. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "remote/blocks.h"
#include "core/msg.h"

static tri_blocks *ring(void)
{
    tri_blocks *b = aligned_alloc(64, sizeof *b);
    cr_assert(b);
    tri_blocks_init(b);
    return b;
}

Test(blocks, empty_gives_nothing)
{
    tri_blocks *b = ring();
    cr_assert_null(tri_blocks_take(b));
    tri_blocks_destroy(b);
    free(b);
}

Test(blocks, keeps_blocks_in_order_and_frees_the_rest)
{
    tri_blocks *b = ring();
    tr_msg *m[3];
    for (int i = 0; i < 3; i++) {
        m[i] = tr_msg_new(7, TRI_BLOCK_PAYLOAD);
        cr_assert(m[i]);
        tri_blocks_give(b, m[i]);
    }
    /* Not a block: a different size, so tr_msg_free's sized free stays right. */
    tri_blocks_give(b, tr_msg_new(7, TRI_BLOCK_PAYLOAD - 8));
    tri_blocks_give(b, tr_msg_new(7, TRI_BLOCK_PAYLOAD + 8));
    for (int i = 0; i < 3; i++) {
        tr_msg *t = tri_blocks_take(b);
        cr_assert_eq(t, m[i], "block %d came back out of order", i);
        cr_assert_eq(t->size, TRI_BLOCK_PAYLOAD);
        tr_msg_free(t);
    }
    cr_assert_null(tri_blocks_take(b), "only blocks are kept");
    tri_blocks_destroy(b);
    free(b);
    TC_ASSERT_NO_LEAKS();
}

Test(blocks, full_ring_frees_what_does_not_fit)
{
    tri_blocks *b = ring();
    for (unsigned i = 0; i < TRI_BLOCKS + 100; i++)
        tri_blocks_give(b, tr_msg_new(1, TRI_BLOCK_PAYLOAD));
    unsigned kept = 0;
    for (tr_msg *t; (t = tri_blocks_take(b)); kept++)
        tr_msg_free(t);
    cr_assert_eq(kept, TRI_BLOCKS, "%u kept, at most %u", kept, TRI_BLOCKS);
    /* Wrapped around: the ring keeps working past its first lap. */
    for (unsigned lap = 0; lap < 3; lap++) {
        for (unsigned i = 0; i < TRI_BLOCKS / 2; i++)
            tri_blocks_give(b, tr_msg_new(1, TRI_BLOCK_PAYLOAD));
        for (unsigned i = 0; i < TRI_BLOCKS / 2; i++) {
            tr_msg *t = tri_blocks_take(b);
            cr_assert(t, "lap %u, block %u missing", lap, i);
            tr_msg_free(t);
        }
        cr_assert_null(tri_blocks_take(b));
    }
    tri_blocks_destroy(b);
    free(b);
    TC_ASSERT_NO_LEAKS();
}
