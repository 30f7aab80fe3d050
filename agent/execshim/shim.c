/*
 * paddock-exec: the agent's exec shim (agent/rlimit.go), in C so that an exec with rlimits costs one
 * small exec more, not a second Go runtime start (~1 ms of CPU on every command). Built static with
 * musl by scripts/build-agent.sh and embedded in the agent, which runs it from a sealed memfd.
 *
 * argv: [argv0, marker, "RES=SOFT:HARD,…", path, N, argv[0..N), env…] (shimArgv). It raises its
 * oom_score_adj to 1000 (so an OOM kill takes the command, never the agent), sets each limit on itself
 * and execs path in its own place (same pid, process group, terminal, fds 0-2). On fd 3,
 * close-on-exec, a failure is reported in 4 bytes: kind ('a' arguments, 'r' rlimit, 'x' execve), the
 * limit's index, errno (big-endian); a successful execve closes it with nothing written.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#define STATUS_FD 3

static void fail(char kind, int index, int err) {
	unsigned char msg[4] = {(unsigned char)kind, (unsigned char)index, (unsigned char)(err >> 8), (unsigned char)err};
	(void)!write(STATUS_FD, msg, sizeof msg);
	_exit(127);
}

/* Reads decimal digits up to the next character not a digit; refuses an empty number or one past 2^53 + 1. */
static const char *number(const char *s, unsigned long long *out) {
	unsigned long long n = 0;
	const char *start = s;
	for (; *s >= '0' && *s <= '9'; s++) {
		n = n * 10 + (unsigned long long)(*s - '0');
		if (n > (1ULL << 53) + 1) return 0; /* a CPU hard limit is the soft one + 1 */
	}
	if (s == start) return 0;
	*out = n;
	return s;
}

/*
 * Best effort (an old kernel or a sandbox without it runs the command anyway), before the limits: under
 * nofile=0 nothing could be opened. Run from the agent's execute-only memfd the shim is non-dumpable, so
 * its /proc/self files are root's and the open is refused; dumpable only for that open (a process of the
 * job's uid could ptrace it meanwhile, and gains nothing it could not do to the command itself).
 */
static void oom_first(void) {
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == EACCES && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == 0) {
		fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	}
	if (fd < 0) return;
	(void)!write(fd, "1000", 4);
	close(fd);
}

int main(int argc, char **argv) {
	fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC);
	if (argc < 5) fail('a', 0, 0);
	unsigned long long n;
	const char *end = number(argv[4], &n);
	if (!end || *end || n < 1 || n > (unsigned long long)(argc - 5)) fail('a', 0, 0);
	oom_first();
	const char *s = argv[2];
	for (int i = 0; *s; i++) {
		unsigned long long res, soft, hard;
		if (!(s = number(s, &res)) || *s++ != '=' || !(s = number(s, &soft)) || *s++ != ':' || !(s = number(s, &hard)))
			fail('a', 0, 0);
		if (*s == ',') s++;
		else if (*s) fail('a', 0, 0);
		struct rlimit lim = {(rlim_t)soft, (rlim_t)hard};
		if (setrlimit((int)res, &lim) != 0) fail('r', i, errno);
	}
	/* argv[0..N) moves one slot down so a NULL can end it; the env after it already ends at argv[argc]. */
	char **cmd = argv + 4, **env = argv + 5 + n;
	for (unsigned long long i = 0; i < n; i++) cmd[i] = argv[5 + i];
	cmd[n] = 0;
	execve(argv[3], cmd, env);
	fail('x', 0, errno);
	return 127;
}
