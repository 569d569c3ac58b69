/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-server --to-shards IMAGE DIR [--chunk-size SIZE] and --from-shards DIR IMAGE: a raw image (a
 * file or block device) to a sharded image (shards.h) and back. Only data makes chunk files: ranges
 * that are holes in the image (SEEK_DATA) or read as zeroes are left out, and come back as holes.
 */
#pragma once

/* Whether argv asks for a conversion (its first argument is --to-shards or --from-shards). */
int shard_convert_wanted(int argc, char **argv);
/* Runs it: the exit status, with every failure logged. */
int shard_convert_main(int argc, char **argv);
