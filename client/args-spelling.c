/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Options getopt could not read (unknown, ambiguous, missing or unwanted arguments), and mistyped
 * long options it would misread as bundles of short ones: each reported in one line, with the
 * option that was probably meant.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "client/args-spelling.h"
#include "client/args-table.h"
#include "common/log.h"
#include "common/macro.h"

/* Whether word[0..n) is a prefix of a long option with this val, as getopt would have read it. */
static bool long_option_prefix(const char *word, size_t n, int val)
{
	for (const struct option *opt = args_options; opt->name; opt++)
		if (opt->val == val && n > 0 && strncmp(opt->name, word, n) == 0)
			return true;
	return false;
}

/* The word at argv[optind - 1] without its dashes, if getopt read it as a long option of val. */
static const char *long_word(int argc, char **argv, int val, size_t *ret_n)
{
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
	const char *word;

	if (arg[0] != '-' || arg[1] == '\0')
		return NULL;
	word = arg + (arg[1] == '-' ? 2 : 1);
	*ret_n = strcspn(word, "=");
	if (val && !long_option_prefix(word, *ret_n, val))
		return NULL;
	return word;
}

#define DISTANCE_FAR 1000u
#define DISTANCE_WORD_MAX 64

/*
 * The edit distance of a[0..n) and b, ignoring case: letters inserted, deleted, replaced, or two
 * neighbours swapped ("mrak" for "mark"), each one edit. Words longer than any option are far.
 */
static unsigned edit_distance(const char *a, size_t n, const char *b)
{
	unsigned rows[3][DISTANCE_WORD_MAX + 1];
	unsigned *before = rows[0], *prev = rows[1], *cur = rows[2], *t;
	size_t m = strlen(b);

	if (n > DISTANCE_WORD_MAX || m > DISTANCE_WORD_MAX)
		return DISTANCE_FAR;
	for (size_t j = 0; j <= m; j++)
		prev[j] = (unsigned)j;
	for (size_t i = 1; i <= n; i++) {
		int x = tolower((unsigned char)a[i - 1]);

		cur[0] = (unsigned)i;
		for (size_t j = 1; j <= m; j++) {
			int y = tolower((unsigned char)b[j - 1]);
			unsigned d = MIN(prev[j], cur[j - 1]) + 1;

			d = MIN(d, prev[j - 1] + (x != y));
			if (i > 1 && j > 1 && x == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == y)
				d = MIN(d, before[j - 2] + 1);
			cur[j] = d;
		}
		t = before;
		before = prev;
		prev = cur;
		cur = t;
	}
	return prev[m];
}

/*
 * The long option that word[0..n) was probably meant to be: the one nearest to it, if it is one
 * edit away (two for words of six letters or more, where two slips are as likely as one in a
 * short word) and no other option is as near. NULL otherwise: a guess between two names would
 * mislead as often as help.
 */
static const char *closest_option(const char *word, size_t n)
{
	unsigned best = DISTANCE_FAR, limit = n >= 6 ? 2 : 1;
	const char *found = NULL;
	bool tie = false;

	for (const struct option *opt = args_options; opt->name; opt++) {
		unsigned d;

		if (opt->val == 'S')
			continue; /* obsolete: never worth suggesting */
		d = edit_distance(word, n, opt->name);
		if (d < best) {
			best = d;
			found = opt->name;
			tie = false;
		} else if (d == best) {
			tie = true;
		}
	}
	return best <= limit && !tie ? found : NULL;
}

/* "unknown option '-word'", with the option it was probably meant to be, dashed alike. */
static int unknown_option(const char *arg)
{
	size_t dashes = arg[1] == '-' ? 2 : 1, n = strcspn(arg + dashes, "=");
	const char *near = closest_option(arg + dashes, n);

	if (near)
		log_error("unknown option '%.*s'; did you mean '%.*s%s'?", (int)(dashes + n), arg,
			  (int)dashes, "--", near);
	else
		log_error("unknown option '%.*s'; see 'nbd-client --help'", (int)(dashes + n), arg);
	return -EINVAL;
}

/* Whether getopt reads word (after its dash) as short options that all exist; *ret_upper: whether
 * one of them is an upper-case letter. */
static bool short_bundle(const char *word, bool *ret_upper)
{
	*ret_upper = false;
	for (const char *p = word; *p; p++) {
		/* Past "-:", the flags of the string itself. */
		const char *s = *p == ':' ? NULL : strchr(args_short_options + 2, *p);

		if (!s)
			return false;
		if (*p >= 'A' && *p <= 'Z')
			*ret_upper = true;
		if (s[1] == ':')
			return true; /* the rest of the word, or the next argument, is its value */
	}
	return true;
}

/*
 * A single-dash word that getopt has begun to read as a bundle of short options, because it is no
 * long option nor a prefix of one. getopt_long_only() does this for the reference too, so that a
 * mistyped long option turns into short ones: "-systemd-mrak" is -s plus -y (TLS priority)
 * "stemd-mrak", "-blocksize" is -b "locksize", "-persit" fails on an "-e" nobody typed. The rule:
 *
 *  - A word that is no valid bundle (one of its letters is no short option) is reported whole, as
 *    an unknown option, when it has 4 letters or more or is near a long option's name; a shorter
 *    one ("-pz") is left to getopt, which names the letter that is wrong.
 *  - A valid bundle is reported only when it has 4 letters or more (before any '='), uses no
 *    upper-case short option and is near a long option's name (see closest_option()). Long names
 *    are all lower case, so a bundle with -N, -C, -R... ("-Nname", "-C4", "-RnmgL") is meant as
 *    one; bundles that scripts write are short ("-sp", "-vv") or far from every name ("-b4096",
 *    "-t30", "-dnbd0"). What is reported here would have run with nonsense values: "-timout" as
 *    -t "imout", "-iname" as an identifier "name".
 *
 * Everything else is a bundle, as in the reference.
 */
int args_check_bundle(const char *arg)
{
	const char *word = arg + 1;
	size_t n = strcspn(word, "=");
	bool upper;

	if (arg[0] != '-' || arg[1] == '-' || n < 2)
		return 0;
	if (short_bundle(word, &upper)) {
		if (n >= 4 && !upper && closest_option(word, n))
			return unknown_option(arg);
	} else if (n >= 4 || closest_option(word, n)) {
		return unknown_option(arg);
	}
	return 0;
}

int args_bad_option(int argc, char **argv)
{
	const char *word;
	size_t n, matches = 0;

	word = long_word(argc, argv, optopt, &n);
	if (optopt && word && word[n] == '=') {
		log_error("option '%.*s' takes no argument", (int)(word + n - argv[optind - 1]),
			  argv[optind - 1]);
		return -EINVAL;
	}
	if (optopt) {
		log_error("unknown option '-%c'; see 'nbd-client --help'", optopt);
		return -EINVAL;
	}
	if (!word) {
		log_error("unknown option; see 'nbd-client --help'");
		return -EINVAL;
	}
	for (const struct option *o = args_options; o->name; o++)
		if (strncmp(o->name, word, n) == 0)
			matches++;
	if (matches <= 1)
		return unknown_option(argv[optind - 1]);
	log_error("ambiguous option '%.*s'; see 'nbd-client --help'",
		  (int)(word + n - argv[optind - 1]), argv[optind - 1]);
	return -EINVAL;
}

int args_missing_argument(int argc, char **argv)
{
	const char *word;
	size_t n;

	word = long_word(argc, argv, optopt, &n);
	if (word && (optopt >= 0x100 || n > 1 || argv[optind - 1][1] == '-'))
		log_error("option '%.*s' needs an argument; see 'nbd-client --help'",
			  (int)(word + n - argv[optind - 1]), argv[optind - 1]);
	else
		log_error("option '-%c' needs an argument; see 'nbd-client --help'", optopt);
	return -EINVAL;
}
