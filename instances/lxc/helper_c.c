//go:build linux && cgo

// lodged's forkstart, forkexecd and callhook helpers, run before the Go
// runtime starts (see helper_c.go): `lodged forkstart` and `lodged
// forkexecd` (the exec zygote) are re-executions of lodged that only call
// liblxc, and starting Go's runtime (its threads, its package inits) for
// that cost milliseconds on every launch and every exec. A constructor runs when the binary is loaded,
// before Go's own entry point, in a process that is still single-threaded,
// which is also the safest place to call liblxc's forking functions from.
// For any other command line it returns at once and lodged starts as usual.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lxc/attach_options.h>
#include <lxc/lxccontainer.h>

// The helper's timeline for the daemon's trace (helptrace.go): a line
// "lodge-trace UNIXNANO STEP" at the end of each step, when asked for.
static bool trace_on;
static char trace_buf[1024];
static size_t trace_len;

static void trace_mark(const char *step)
{
	struct timespec ts;
	if (!trace_on)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	int n = snprintf(trace_buf + trace_len, sizeof(trace_buf) - trace_len, "lodge-trace %lld%09ld %s\n",
			 (long long)ts.tv_sec, ts.tv_nsec, step);
	if (n > 0 && (size_t)n < sizeof(trace_buf) - trace_len)
		trace_len += n;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= n;
	}
}

static void trace_flush(int fd)
{
	write_all(fd, trace_buf, trace_len);
	trace_len = 0;
}

static void errorf(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		write_all(2, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

// forkstart NAME LXCPATH CONFIG: liblxc's daemonized start; the container's
// monitor is forked off and outlives this process. Output goes to the
// daemon, which shows it in the error of a failed start.
static int fork_start(const char *name, const char *lxcpath, const char *config)
{
	struct lxc_container *c = lxc_container_new(name, lxcpath);
	if (!c) {
		errorf("container %s: liblxc could not load it\n", name);
		return 1;
	}
	// lxc_container_new already read LXCPATH/NAME/config; loading it
	// again would append list keys (lxc.idmap, lxc.mount.entry) twice.
	c->clear_config(c);
	if (!c->load_config(c, config)) {
		errorf("load config %s: liblxc refused it\n", config);
		return 1;
	}
	trace_mark("load the config");
	if (!c->daemonize) {
		errorf("liblxc is not set to daemonize\n");
		return 1;
	}
	if (c->is_running(c)) {
		errorf("container %s is already running\n", name);
		return 1;
	}
	if (!c->start(c, 0, NULL)) {
		errorf("starting the container failed\n");
		return 1;
	}
	trace_mark("liblxc start");
	trace_flush(1);
	return 0;
}

// Mount points under /sys (at most this many) bound back over a new sysfs.
#define MAX_SYS_MOUNTS 64

// unescape_mountinfo undoes mountinfo's octal escapes (\040 for a space)
// in place.
static void unescape_mountinfo(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
			continue;
		}
		*w++ = *r;
	}
	*w = 0;
}

// under tells whether path is dir or below it.
static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && (path[n] == 0 || path[n] == '/');
}

// own_sysfs moves this process to a mount namespace of its own whose /sys
// is a sysfs of its network namespace (LODGE_OWN_SYSFS, sysfs.go: lodged
// runs in a network namespace of its own but the host's mount namespace,
// whose /sys shows the host's interfaces, where liblxc looks for lodged's
// bridge). What was mounted under /sys (the cgroup trees) is bound back;
// nothing outside /sys changes, and nothing reaches the host's namespace.
static int own_sysfs(void)
{
	char *paths[MAX_SYS_MOUNTS];
	int fds[MAX_SYS_MOUNTS], n = 0, ret = -1;
	if (unshare(CLONE_NEWNS) < 0) {
		errorf("make a mount namespace for a sysfs of lodged's network namespace: %s\n", strerror(errno));
		return -1;
	}
	if (mount(NULL, "/sys", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
		errorf("make /sys a slave mount: %s\n", strerror(errno));
		return -1;
	}
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f) {
		errorf("read /proc/self/mountinfo: %s\n", strerror(errno));
		return -1;
	}
	char *line = NULL, mp[4096];
	size_t cap = 0;
	while (getline(&line, &cap, f) >= 0) {
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		unescape_mountinfo(mp);
		if (!under(mp, "/sys") || strcmp(mp, "/sys") == 0)
			continue;
		// Only the topmost: binding those recursively brings the rest.
		bool covered = false;
		for (int i = 0; i < n && !covered; i++)
			covered = under(mp, paths[i]);
		if (covered)
			continue;
		for (int i = 0; i < n;) {
			if (under(paths[i], mp)) {
				free(paths[i]);
				paths[i] = paths[--n];
			} else {
				i++;
			}
		}
		if (n == MAX_SYS_MOUNTS || !(paths[n] = strdup(mp))) {
			errorf("list the mounts under /sys: more than %d, or out of memory\n", MAX_SYS_MOUNTS);
			free(line);
			fclose(f);
			goto out;
		}
		n++;
	}
	free(line);
	fclose(f);
	// Held open: the new sysfs hides them.
	for (int i = 0; i < n; i++) {
		fds[i] = open(paths[i], O_PATH | O_CLOEXEC);
		if (fds[i] < 0) {
			errorf("open %s to keep it: %s\n", paths[i], strerror(errno));
			for (int j = 0; j < i; j++)
				close(fds[j]);
			goto out;
		}
	}
	if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		errorf("mount a sysfs on /sys: %s\n", strerror(errno));
	} else {
		ret = 0;
		for (int i = 0; i < n && ret == 0; i++) {
			char src[64];
			if (access(paths[i], F_OK) < 0)
				continue; // no such directory in this sysfs
			snprintf(src, sizeof(src), "/proc/self/fd/%d", fds[i]);
			if (mount(src, paths[i], NULL, MS_BIND | MS_REC, NULL) < 0) {
				errorf("bind %s back under the new sysfs: %s\n", paths[i], strerror(errno));
				ret = -1;
			}
		}
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
out:
	for (int i = 0; i < n; i++)
		free(paths[i]);
	return ret;
}

// read_request reads fd until EOF into a NUL-terminated buffer.
static char *read_request(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	if (!buf)
		return NULL;
	for (;;) {
		if (n == cap) {
			if (cap >= (64u << 20))
				break;
			cap *= 2;
			char *b = realloc(buf, cap + 1);
			if (!b) {
				free(buf);
				return NULL;
			}
			buf = b;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += r;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

// next returns the field at *pos and moves past it, or NULL at the end.
static char *next(char *buf, size_t len, size_t *pos)
{
	if (*pos >= len)
		return NULL;
	char *s = buf + *pos;
	*pos += strlen(s) + 1;
	return s;
}

// strings reads a count and that many fields into a NULL-terminated array.
static char **strings(char *buf, size_t len, size_t *pos)
{
	char *cnt = next(buf, len, pos);
	if (!cnt)
		return NULL;
	long n = strtol(cnt, NULL, 10);
	if (n < 0 || n > 1 << 20)
		return NULL;
	char **out = calloc(n + 1, sizeof(char *));
	if (!out)
		return NULL;
	for (long i = 0; i < n; i++) {
		out[i] = next(buf, len, pos);
		if (!out[i])
			return NULL;
	}
	return out;
}

// fork_exec attaches a process to container NAME of LXCPATH with fds 0-2
// as its stdio, waits for it and returns its status (128+n for a death by
// signal n). It runs in a child of the exec zygote (exec_zygote), which
// lodged hands fds 0-4. On fd 3 it writes lines back: the timeline if asked
// for, "pid N" (the attached process's host pid) once attached, and "exit
// N" before it returns, also when attaching failed. The request comes on fd
// 4, not on a command line, where anyone could read its environment:
// NUL-terminated fields, "1" (the format), cwd, uid, gid, tty ("1": make
// fd 0, a pty, the controlling terminal), then argv and the environment,
// each as a count followed by that many fields (exec.go writes it).
static int fork_exec(const char *name, const char *lxcpath)
{
	size_t len = 0, pos = 0;
	char *req = read_request(4, &len);
	close(4);
	if (!req) {
		errorf("exec: cannot read the request: %s\n", strerror(errno));
		return 126;
	}
	char *format = next(req, len, &pos);
	char *cwd = next(req, len, &pos);
	char *uid = next(req, len, &pos);
	char *gid = next(req, len, &pos);
	char *tty = next(req, len, &pos);
	char **argv = strings(req, len, &pos);
	char **env = argv ? strings(req, len, &pos) : NULL;
	if (!format || strcmp(format, "1") != 0 || !tty || !argv || !env || !argv[0]) {
		errorf("exec: bad request from lodged\n");
		return 126;
	}
	if (strcmp(tty, "1") == 0) {
		// A session of our own with the pty as controlling terminal; the
		// attached process inherits both, so shells get job control.
		if (setsid() < 0) {
			errorf("setsid: %s\n", strerror(errno));
			return 126;
		}
		if (ioctl(0, TIOCSCTTY, 0) < 0) {
			errorf("TIOCSCTTY: %s\n", strerror(errno));
			return 126;
		}
	}
	struct lxc_container *c = lxc_container_new(name, lxcpath);
	if (!c) {
		errorf("attach to container \"%s\": liblxc could not load it\n", name);
		return 126;
	}
	trace_mark("load the container");
	lxc_attach_options_t opts = LXC_ATTACH_OPTIONS_DEFAULT;
	opts.env_policy = LXC_ATTACH_CLEAR_ENV;
	opts.initial_cwd = cwd[0] ? cwd : NULL;
	opts.uid = (uid_t)strtoul(uid, NULL, 10);
	opts.gid = (gid_t)strtoul(gid, NULL, 10);
	opts.extra_env_vars = env;
	opts.stdin_fd = 0;
	opts.stdout_fd = 1;
	opts.stderr_fd = 2;
	lxc_attach_command_t cmd = {.program = argv[0], .argv = argv};
	pid_t pid = -1;
	// fd 3 stays open until the end, for the exit status; the attached
	// process must not inherit it, or a daemon it starts would hold
	// lodged's pipe.
	fcntl(3, F_SETFD, FD_CLOEXEC);
	if (c->attach(c, lxc_attach_run_command, &cmd, &opts, &pid) < 0 || pid <= 0) {
		errorf("attach to container \"%s\": attaching failed\n", name);
		return 126;
	}
	trace_mark("liblxc attach");
	trace_flush(3);
	char line[32];
	int n = snprintf(line, sizeof(line), "pid %d\n", (int)pid);
	write_all(3, line, n);
	int status;
	for (;;) {
		if (waitpid(pid, &status, 0) == pid)
			break;
		if (errno != EINTR) {
			errorf("wait: %s\n", strerror(errno));
			return 126;
		}
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

// The exec zygote, `lodged forkexecd`: started once by lodged (exec.go),
// it forks a child per exec, which is cheaper than executing lodged anew
// each time (its start, the dynamic linking of liblxc): about 2 ms of each
// exec on this kind of machine. fd 3 is a SOCK_SEQPACKET socket to lodged;
// each message holds "NAME\0LXCPATH\0TRACE\0" (TRACE "1" asks for the
// timeline) and five fds, the child's 0-4 (see fork_exec). It calls nothing
// of liblxc itself: its children start from a clean, single-threaded state.
// It leaves when lodged closes its end.
static int exec_zygote(void)
{
	// Children are reaped by the kernel; each resets this for its own.
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		char buf[8192];
		union {
			char buf[CMSG_SPACE(5 * sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
		ssize_t n = recvmsg(3, &msg, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		int fds[5], nfds = 0;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			int *in = (int *)CMSG_DATA(cm);
			size_t cnt = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < cnt; i++) {
				if (nfds < 5)
					fds[nfds++] = in[i];
				else
					close(in[i]);
			}
		}
		buf[n] = '\0';
		size_t len = (size_t)n, pos = 0;
		char *name = next(buf, len, &pos), *lxcpath = next(buf, len, &pos), *trace = next(buf, len, &pos);
		if (nfds != 5 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || !name || !lxcpath || !trace) {
			// lodged's reader sees the status pipe close without a word.
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			signal(SIGCHLD, SIG_DFL);
			trace_on = strcmp(trace, "1") == 0;
			trace_mark("fork");
			// The received fds are all 4 or above (0-3 are taken
			// here), so dup2 in this order never overwrites one that is
			// still to be moved.
			for (int i = 0; i < 5; i++)
				if (fds[i] != i && dup2(fds[i], i) < 0)
					_exit(126);
			for (int i = 0; i < 5; i++)
				if (fds[i] > 4)
					close(fds[i]);
			int code = fork_exec(name, lxcpath);
			char line[32];
			int l = snprintf(line, sizeof(line), "exit %d\n", code);
			write_all(3, line, l);
			_exit(code);
		}
		if (pid < 0)
			errorf("lodged forkexecd: fork: %s\n", strerror(errno));
		for (int i = 0; i < 5; i++)
			close(fds[i]);
	}
}

// callhook SOCKET NAME ...: liblxc's post-stop hook (server/hooks.go has
// why). It tells the running lodged that NAME stopped with one request on
// its unix socket, POST /internal/instances/NAME/onstop, and waits up to 3 s
// for the answer. Here and not in Go: a shutdown of 1,000 containers runs it
// 1,000 times, and Go's runtime with liblxc's libraries loaded cost 4 ms of
// a busy host's CPU each. It never fails: a failing post-stop hook would turn
// a reboot inside the container into a stop.
static int call_hook(int argc, char **argv)
{
	const char *target = getenv("LXC_TARGET");
	if (argc < 4 || !target || strcmp(target, "stop") != 0)
		return 0; // a reboot: liblxc starts the container again itself
	const char *sock = argv[2], *name = argv[3];
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(sock) >= sizeof(addr.sun_path))
		return 0;
	strcpy(addr.sun_path, sock);
	char req[1024];
	int n = snprintf(req, sizeof(req), "POST /internal/instances/");
	// Instance names are letters, digits and hyphens; anything else is
	// escaped all the same.
	for (const unsigned char *p = (const unsigned char *)name; *p && n < (int)sizeof(req) - 200; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			req[n++] = *p;
		else
			n += snprintf(req + n, sizeof(req) - n, "%%%02X", *p);
	}
	n += snprintf(req + n, sizeof(req) - n,
		      "/onstop HTTP/1.1\r\nHost: lodged\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	struct timeval tv = {.tv_sec = 3};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return 0; // lodged is down: nobody hears the hook
	}
	// send, not write: lodged closing first (a shutdown) must not kill the
	// hook with SIGPIPE.
	for (int off = 0; off < n;) {
		ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += w;
	}
	// The answer, read to its end (lodged closes: Connection: close) so
	// that lodged has recorded the stop when liblxc goes on.
	char buf[512];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
	}
	close(fd);
	return 0;
}

// glibc passes the command line and environment to constructors.
__attribute__((constructor)) static void lodge_helpers(int argc, char **argv, char **envp)
{
	if (argc < 2 || !argv || !argv[1])
		return;
	if (strcmp(argv[1], "callhook") == 0)
		_exit(call_hook(argc, argv));
	bool zygote = strcmp(argv[1], "forkexecd") == 0;
	if (!zygote && strcmp(argv[1], "forkstart") != 0)
		return;
	// As Go's runtime does at its start: stdio lodged did not give (a nil
	// Stdin) is /dev/null, not a closed fd that liblxc cannot pass on (nor
	// one the zygote's received fds would land on).
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
	if (zygote) {
		if (argc != 2) {
			errorf("usage: forkexecd (with lodged's socket on fd 3)\n");
			_exit(2);
		}
		_exit(exec_zygote());
	}
	bool sysfs = false;
	for (char **e = envp; e && *e; e++) {
		if (strncmp(*e, "LODGE_TRACE_HELPER=", 19) == 0 && (*e)[19])
			trace_on = true;
		if (strcmp(*e, "LODGE_OWN_SYSFS=1") == 0)
			sysfs = true;
	}
	trace_mark("exec");
	if (argc != 5) {
		errorf("usage: forkstart NAME LXCPATH CONFIG\n");
		_exit(2);
	}
	if (sysfs) {
		if (own_sysfs() < 0)
			_exit(1);
		trace_mark("a sysfs of lodged's network namespace");
	}
	_exit(fork_start(argv[2], argv[3], argv[4]));
}
