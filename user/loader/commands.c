// SPDX-License-Identifier: MIT
/*
 * What quicsteerctl can ask the loader through its control socket:
 * reload, reload-keys, reopen-logs, keys, upgrade, status [--json].  The status is
 * gathered once (struct status) and written as one screen of text or as
 * JSON; it names ticket keys by their name hash and never holds material.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "loader/loader.h"
#include "quicsteer/steer.h"

#define COMMANDS "reload, reload-keys, reopen-logs, keys, upgrade, status [--json]"

/* ---- gathering ------------------------------------------------------- */

struct worker_row {
	unsigned gen, id;
	int pid;
	const char *state;
	unsigned long long conns;
	unsigned restarts;
};

struct status {
	const struct loader *ld;
	long long uptime_s;
	struct worker_row w[QS_WORKER_SLOTS];
	unsigned n_w;
	bool have_steer;
	unsigned long long steer[QS_STEER_COUNTERS];
	const char *php_mode;       /* managed, external, off */
	const char *php_state;      /* up, down, unknown */
};

static const char *worker_state(const struct loader *ld, const struct qs_worker_slot *s)
{
	long long since;

	if (s->retiring)
		return s->pid ? "draining" : "gone";
	if (!s->pid)
		return s->restart_at_ms ? "restarting" : "down";
	if (!s->serving)
		return "starting";
	switch (qs_supervisor_health(s, &since)) {
	case QS_WORKER_STOPPED:
		return "stopped";
	case QS_WORKER_HUNG:
		return ld->sv.probe ? "hung" : "serving";
	case QS_WORKER_DOWN:
		return "down";
	default:
		return "serving";
	}
}

static const char *gen_role(const struct loader *ld, unsigned gen)
{
	if (gen == ld->gen)
		return "current";
	return ld->rl.pending && gen == ld->rl.gen ? "starting" : "draining";
}

/*
 * An external pool on a unix socket: does it accept?  (A non-blocking
 * connect answers at once; a TCP pool is not probed, which could wait.)
 */
static const char *probe_unix_pool(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *state = "down";
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return "unknown";
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return "unknown";
	if (!connect(fd, (struct sockaddr *)&sun, sizeof(sun)) || errno == EAGAIN)
		state = "up";	/* EAGAIN: its backlog is full, it runs */
	close(fd);
	return state;
}

static void gather(const struct loader *ld, struct status *st)
{
	const struct qs_config *cfg = &ld->cfg;

	memset(st, 0, sizeof(*st));
	st->ld = ld;
	st->uptime_s = (qs_now_ms() - ld->started_ms) / 1000;
	/* the current generation first, then the others in order */
	for (unsigned k = 0; k < QS_MAX_GENS; k++) {
		unsigned g = (ld->gen + QS_MAX_GENS - k) % QS_MAX_GENS;

		for (unsigned w = 0; w < QS_MAX_WORKERS; w++) {
			const struct qs_worker_slot *s = &ld->sv.slots[g * QS_MAX_WORKERS + w];
			const struct qs_worker_stats *ws = &ld->bpf.workers[g * QS_MAX_WORKERS + w];
			struct worker_row *r;

			if (!s->used)
				continue;
			r = &st->w[st->n_w++];
			r->gen = g;
			r->id = w;
			r->pid = (int)s->pid;
			r->state = worker_state(ld, s);
			r->conns = __atomic_load_n(&ws->conn_active, __ATOMIC_RELAXED) +
				   __atomic_load_n(&ws->tcp_active, __ATOMIC_RELAXED);
			r->restarts = s->restarts;
		}
	}
	st->have_steer = qs_loader_steer_totals(ld, st->steer) == 0;
	switch (cfg->fastcgi) {
	case QS_FASTCGI_MANAGED:
		st->php_mode = "managed";
		st->php_state = ld->phpfpm.pid > 0 ? "up" : "down";
		break;
	case QS_FASTCGI_UNIX:
		st->php_mode = "external";
		st->php_state = probe_unix_pool(cfg->fastcgi_addr);
		break;
	case QS_FASTCGI_TCP:
		st->php_mode = "external";
		/* not probed here (a connect could wait): the status query's outcome */
		st->php_state = ld->pool.state == QS_POOL_UP ? "up" :
				ld->pool.state == QS_POOL_DOWN ? "down" : "unknown";
		break;
	default:
		st->php_mode = "off";
		st->php_state = "off";
		break;
	}
}

static void iso_time(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *steering_name(enum qs_steering s)
{
	return s == QS_STEER_ON ? "on" : s == QS_STEER_OFF ? "off" : "baseline";
}

static const char *ticket_source_name(enum qs_ticket_source s)
{
	return s == QS_TICKETS_AUTO ? "auto" : s == QS_TICKETS_FILE ? "file" : "fleet";
}

/* ---- text ------------------------------------------------------------- */

/* "pool:" the php-fpm pool's state, as its status page said at the last query. */
static void pool_text(const struct loader *ld, struct qs_mbuf *b)
{
	const struct qs_pool *p = &ld->pool;
	const struct qs_fpm_pool *l = &p->last;
	long long age = p->at ? (long long)(time(NULL) - p->at) : 0;

	if (!p->asked) {
		qs_mbuf_printf(b, "pool:        unknown (no status page to read: give the "
			       "pool's pm.status_path with --php-status-path)\n");
		return;
	}
	switch (p->state) {
	case QS_POOL_UP:
		qs_mbuf_printf(b, "pool:        %s (%s): %llu active, %llu idle, %llu total; "
			       "listen queue %llu; max children reached %llu; accepted conn %llu; "
			       "slow requests %llu (%lld s ago)\n", l->pool, l->pm,
			       (unsigned long long)l->active, (unsigned long long)l->idle,
			       (unsigned long long)l->total, (unsigned long long)l->listen_queue,
			       (unsigned long long)l->max_children_reached,
			       (unsigned long long)l->accepted_conn,
			       (unsigned long long)l->slow_requests, age);
		break;
	case QS_POOL_UNKNOWN:
		qs_mbuf_printf(b, "pool:        unknown (not read yet: every %d s)\n",
			       QS_POOL_INTERVAL_MS / 1000);
		break;
	default:
		qs_mbuf_printf(b, "pool:        %s: %s (%lld s ago)\n",
			       qs_pool_state_name(p->state), p->why, age);
		break;
	}
}

static void status_text(const struct status *st, struct qs_mbuf *b)
{
	const struct loader *ld = st->ld;
	const struct qs_config *cfg = &ld->cfg;
	const struct qs_reload *rl = &ld->rl;
	char when[32];

	iso_time(ld->started_at, when);
	qs_mbuf_printf(b, "instance:    %s (quicsteerd %s, pid %d)\n", cfg->instance,
		       QS_VERSION, (int)getpid());
	qs_mbuf_printf(b, "uptime:      %lldd %02lld:%02lld:%02lld (since %s)\n",
		       st->uptime_s / 86400, st->uptime_s / 3600 % 24, st->uptime_s / 60 % 60,
		       st->uptime_s % 60, when);
	qs_mbuf_printf(b, "generation:  %u, %u workers, steering %s\n", ld->gen, cfg->workers,
		       steering_name(cfg->steering));
	for (unsigned l = 0; l < cfg->n_listen; l++)
		qs_mbuf_printf(b, "listener:    udp %s (HTTP/3)%s%s%s\n", cfg->listen[l].text,
			       cfg->tcp ? ", tcp " : "", cfg->tcp ? cfg->listen[l].text : "",
			       cfg->tcp ? " (HTTP/2, HTTP/1.1)" : "");
	if (!strcmp(st->php_mode, "off"))
		qs_mbuf_printf(b, "php-fpm:     off (static files only)\n");
	else if (cfg->fastcgi == QS_FASTCGI_MANAGED)
		qs_mbuf_printf(b, "php-fpm:     managed, %s (pid %d, %u restarts)\n", st->php_state,
			       (int)ld->phpfpm.pid, ld->phpfpm.restarts);
	else
		qs_mbuf_printf(b, "php-fpm:     external %s%s, %s\n",
			       cfg->fastcgi == QS_FASTCGI_UNIX ? "unix:" : "tcp:", cfg->fastcgi_addr,
			       st->php_state);
	if (strcmp(st->php_mode, "off"))
		pool_text(ld, b);
	if (rl->pending)
		qs_mbuf_printf(b, "reload:      in progress: generation %u starting\n", rl->gen);
	if (rl->last_at) {
		iso_time(rl->last_at, when);
		/* the message begins with its outcome: ok, refused, failed */
		qs_mbuf_printf(b, "last reload: %s %s\n", when, rl->last);
	} else {
		qs_mbuf_printf(b, "last reload: none\n");
	}
	qs_mbuf_printf(b, "reloads:     %u ok, %u failed\n", rl->ok, rl->failed);
	if (ld->up.last_at) {
		iso_time(ld->up.last_at, when);
		/* as the reload's: ok or failed, then why */
		qs_mbuf_printf(b, "last upgrade: %s %s\n", when, ld->up.last);
	} else {
		qs_mbuf_printf(b, "last upgrade: none\n");
	}
	qs_mbuf_printf(b, "upgrades:    %u ok\n", ld->up.upgrades);
	qs_mbuf_printf(b, "tickets:     %s keys, lifetime %u s, last re-read: %s\n",
		       ticket_source_name(cfg->ticket_source), cfg->ticket_lifetime_s,
		       ld->keys.last_reload);
	for (uint32_t i = 0; i < ld->keys.cur.n; i++) {
		const struct qs_tkey *k = &ld->keys.cur.k[i];
		char h[17];

		qs_tkey_name_hash(k->name, h);
		qs_mbuf_printf(b, "  key %s %s", h, qs_tkey_role_name(k->role));
		if (k->not_after) {
			iso_time((time_t)k->not_after, when);
			qs_mbuf_printf(b, " until %s", when);
		}
		qs_mbuf_printf(b, "\n");
	}
	if (st->have_steer) {
		qs_mbuf_printf(b, "steering:   ");
		for (size_t m = 0; m < QS_STEER_COUNTERS; m++)
			qs_mbuf_printf(b, " %s %llu", qs_steer_counter_name(m), st->steer[m]);
		qs_mbuf_printf(b, "\n");
	}
	qs_mbuf_printf(b, "\n%-4s %-9s %-7s %-8s %-11s %s\n", "GEN", "ROLE", "WORKER", "PID",
		       "STATE", "CONNS RESTARTS");
	for (unsigned i = 0; i < st->n_w; i++) {
		const struct worker_row *r = &st->w[i];

		qs_mbuf_printf(b, "%-4u %-9s %-7u %-8d %-11s %5llu %8u\n", r->gen,
			       gen_role(ld, r->gen), r->id, r->pid, r->state, r->conns,
			       r->restarts);
	}
}

/* ---- JSON ------------------------------------------------------------- */

/* s as a JSON string: quotes, backslashes and control bytes escaped. */
static void json_str(struct qs_mbuf *b, const char *s)
{
	qs_mbuf_printf(b, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			qs_mbuf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			qs_mbuf_printf(b, "\\u%04x", c);
		else
			qs_mbuf_printf(b, "%c", c);
	}
	qs_mbuf_printf(b, "\"");
}

/* "KEY": "VALUE" with sep ("" or ", ") before it. */
static void json_kv(struct qs_mbuf *b, const char *sep, const char *key, const char *value)
{
	qs_mbuf_printf(b, "%s\"%s\": ", sep, key);
	json_str(b, value);
}

/* , "pool": {...}: as pool_text; the figures only while the state is "up". */
static void pool_json(const struct loader *ld, struct qs_mbuf *b)
{
	const struct qs_pool *p = &ld->pool;
	const struct qs_fpm_pool *l = &p->last;
	char when[32];

	json_kv(b, ", \"pool\": {", "state", qs_pool_state_name(p->state));
	if (p->asked) {
		json_kv(b, ", ", "status_path", p->path);
		if (p->at) {
			iso_time(p->at, when);
			json_kv(b, ", ", "at", when);
		}
	}
	if (p->state == QS_POOL_UP) {
		json_kv(b, ", ", "name", l->pool);
		json_kv(b, ", ", "process_manager", l->pm);
		qs_mbuf_printf(b, ", \"active_processes\": %llu, \"idle_processes\": %llu, "
			       "\"total_processes\": %llu, \"listen_queue\": %llu, "
			       "\"max_children_reached\": %llu, \"accepted_conn\": %llu, "
			       "\"slow_requests\": %llu", (unsigned long long)l->active,
			       (unsigned long long)l->idle, (unsigned long long)l->total,
			       (unsigned long long)l->listen_queue,
			       (unsigned long long)l->max_children_reached,
			       (unsigned long long)l->accepted_conn,
			       (unsigned long long)l->slow_requests);
	} else if (p->why[0]) {
		json_kv(b, ", ", "error", p->why);
	}
	qs_mbuf_printf(b, "}");
}

static void status_json(const struct status *st, struct qs_mbuf *b)
{
	const struct loader *ld = st->ld;
	const struct qs_config *cfg = &ld->cfg;
	const struct qs_reload *rl = &ld->rl;
	char when[32];
	int last_gen = -1;

	json_kv(b, "{", "instance", cfg->instance);
	json_kv(b, ", ", "version", QS_VERSION);
	iso_time(ld->started_at, when);
	json_kv(b, ", ", "started", when);
	qs_mbuf_printf(b, ", \"pid\": %d, \"uptime_s\": %lld, \"generation\": %u, "
		       "\"workers_per_generation\": %u", (int)getpid(), st->uptime_s, ld->gen,
		       cfg->workers);
	json_kv(b, ", ", "steering", steering_name(cfg->steering));
	qs_mbuf_printf(b, ", \"listeners\": [");
	for (unsigned l = 0; l < cfg->n_listen; l++) {
		json_kv(b, l ? ", {" : "{", "protocol", "udp");
		json_kv(b, ", ", "address", cfg->listen[l].text);
		qs_mbuf_printf(b, "}");
		if (cfg->tcp) {
			json_kv(b, ", {", "protocol", "tcp");
			json_kv(b, ", ", "address", cfg->listen[l].text);
			qs_mbuf_printf(b, "}");
		}
	}
	qs_mbuf_printf(b, "], \"generations\": [");
	for (unsigned i = 0; i < st->n_w; i++) {
		const struct worker_row *r = &st->w[i];

		if ((int)r->gen != last_gen) {
			qs_mbuf_printf(b, "%s{\"generation\": %u", last_gen < 0 ? "" : "]}, ",
				       r->gen);
			json_kv(b, ", ", "role", gen_role(ld, r->gen));
			qs_mbuf_printf(b, ", \"workers\": [");
			last_gen = (int)r->gen;
		} else {
			qs_mbuf_printf(b, ", ");
		}
		qs_mbuf_printf(b, "{\"worker\": %u, \"pid\": %d", r->id, r->pid);
		json_kv(b, ", ", "state", r->state);
		qs_mbuf_printf(b, ", \"connections\": %llu, \"restarts\": %u}", r->conns,
			       r->restarts);
	}
	qs_mbuf_printf(b, "%s], \"steering_counters\": {", last_gen < 0 ? "" : "]}");
	for (size_t m = 0; st->have_steer && m < QS_STEER_COUNTERS; m++)
		qs_mbuf_printf(b, "%s\"%s\": %llu", m ? ", " : "", qs_steer_counter_name(m),
			       st->steer[m]);
	json_kv(b, "}, \"php_fpm\": {", "mode", st->php_mode);
	json_kv(b, ", ", "state", st->php_state);
	if (cfg->fastcgi == QS_FASTCGI_MANAGED)
		qs_mbuf_printf(b, ", \"pid\": %d, \"restarts\": %u", (int)ld->phpfpm.pid,
			       ld->phpfpm.restarts);
	else if (cfg->fastcgi != QS_FASTCGI_OFF)
		json_kv(b, ", ", "address", cfg->fastcgi_addr);
	if (cfg->fastcgi != QS_FASTCGI_OFF)
		pool_json(ld, b);
	json_kv(b, "}, \"tickets\": {", "source", ticket_source_name(cfg->ticket_source));
	qs_mbuf_printf(b, ", \"lifetime_s\": %u", cfg->ticket_lifetime_s);
	json_kv(b, ", ", "last_reload", ld->keys.last_reload);
	qs_mbuf_printf(b, ", \"keys\": [");
	for (uint32_t i = 0; i < ld->keys.cur.n; i++) {
		const struct qs_tkey *k = &ld->keys.cur.k[i];
		char h[17];

		qs_tkey_name_hash(k->name, h);
		json_kv(b, i ? ", {" : "{", "name_hash", h);
		json_kv(b, ", ", "role", qs_tkey_role_name(k->role));
		qs_mbuf_printf(b, ", \"not_after\": %lld}", (long long)k->not_after);
	}
	qs_mbuf_printf(b, "]}, \"reload\": {\"in_progress\": %s, \"ok\": %u, \"failed\": %u, "
		       "\"last\": ", rl->pending ? "true" : "false", rl->ok, rl->failed);
	if (rl->last_at) {
		iso_time(rl->last_at, when);
		json_kv(b, "{", "result", rl->last_ok ? "ok" : "failed");
		json_kv(b, ", ", "at", when);
		json_kv(b, ", ", "message", rl->last);
		qs_mbuf_printf(b, "}");
	} else {
		qs_mbuf_printf(b, "null");
	}
	qs_mbuf_printf(b, "}, \"upgrade\": {\"ok\": %u, \"last\": ", ld->up.upgrades);
	if (ld->up.last_at) {
		iso_time(ld->up.last_at, when);
		json_kv(b, "{", "result", ld->up.last_ok == 1 ? "ok" : "failed");
		json_kv(b, ", ", "at", when);
		json_kv(b, ", ", "message", ld->up.last);
		qs_mbuf_printf(b, "}");
	} else {
		qs_mbuf_printf(b, "null");
	}
	qs_mbuf_printf(b, "}}\n");
}

/* ---- commands --------------------------------------------------------- */

void qs_loader_status_line(const struct loader *ld, char *buf, size_t len)
{
	unsigned serving = 0;
	unsigned long long conns = 0;

	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++) {
		const struct qs_worker_slot *s = &ld->sv.slots[i];
		const struct qs_worker_stats *ws = &ld->bpf.workers[i];

		if (!s->used)
			continue;
		if (s->gen == ld->gen && s->pid && s->serving)
			serving++;
		conns += __atomic_load_n(&ws->conn_active, __ATOMIC_RELAXED) +
			 __atomic_load_n(&ws->tcp_active, __ATOMIC_RELAXED);
	}
	snprintf(buf, len, "generation %u: %u/%u workers serving, %llu connections%s", ld->gen,
		 serving, ld->cfg.workers, conns, ld->rl.pending ? ", reloading" : "");
}

static int cmd_keys(const struct loader *ld, struct qs_mbuf *out)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f) {
		qs_mbuf_printf(out, "cannot list the keys: %s", strerror(errno));
		return 1;
	}
	qs_keys_print(&ld->keys, f);
	fclose(f);
	qs_mbuf_printf(out, "%s", text ? text : "");
	free(text);
	return 0;
}

int qs_loader_command(void *arg, const char *line, struct qs_mbuf *out)
{
	struct loader *ld = arg;
	struct status st;
	int ret;

	pr_debug("control: %s", line);
	if (!strcmp(line, "status") || !strcmp(line, "status --json")) {
		gather(ld, &st);
		if (line[6])
			status_json(&st, out);
		else
			status_text(&st, out);
		return 0;
	}
	if (!strcmp(line, "reload")) {
		qs_loader_reload(ld);
		if (ld->rl.pending)
			return QS_CONTROL_WAIT_RELOAD;
		qs_mbuf_printf(out, "%s", ld->rl.last);
		return ld->rl.last_ok ? 0 : 1;
	}
	if (!strcmp(line, "reload-keys")) {
		ret = qs_keys_reload(&ld->keys);
		qs_mbuf_printf(out, "%s", ld->keys.last_reload);
		return ret ? 1 : 0;
	}
	if (!strcmp(line, "reopen-logs")) {
		ret = qs_loader_reopen_logs(ld);
		if (ret < 0) {
			qs_mbuf_printf(out, "cannot reopen the log file %s: %s; the workers were "
				       "told to reopen theirs", ld->cfg.log_file, strerror(-ret));
			return 1;
		}
		qs_mbuf_printf(out, "ok: %s%s%s; %d workers told to reopen theirs",
			       ld->cfg.log_file[0] ? "log file " : "no log file (stderr)",
			       ld->cfg.log_file, ld->cfg.log_file[0] ? " reopened" : "", ret);
		return 0;
	}
	if (!strcmp(line, "keys"))
		return cmd_keys(ld, out);
	if (!strcmp(line, "upgrade")) {
		char why[512];

		/* returns only when this binary keeps running: else the new one answers */
		qs_upgrade(ld, NULL, ld->ctl.client_fd, why, sizeof(why));
		qs_mbuf_printf(out, "failed: %s; the running binary keeps serving", why);
		return 1;
	}
	qs_mbuf_printf(out, "unknown command '%.64s': the loader knows %s", line, COMMANDS);
	return 1;
}
