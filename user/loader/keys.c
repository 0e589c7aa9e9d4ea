// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include "common/log.h"
#include "common/config.h"
#include "common/shared.h"
#include "loader/keys.h"

#define NGINX_KEY_LEN 80
#define FLEET_SECRET_MIN 32
#define FLEET_SECRET_MAX 4096

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *qs_tkey_role_name(uint32_t role)
{
	return role == QS_TKEY_ENCRYPT ? "encrypt" : "decrypt";
}

void qs_keys_print(const struct qs_keys *k, FILE *f)
{
	static const char *src[] = { "auto", "file", "fleet" };

	fprintf(f, "source %s\nversion %u\nlifetime %u\nlast_reload %s\n",
		src[k->cfg->ticket_source], k->cur.version, k->cfg->ticket_lifetime_s,
		k->last_reload);
	for (uint32_t i = 0; i < k->cur.n; i++) {
		char h[17];

		qs_tkey_name_hash(k->cur.k[i].name, h);
		fprintf(f, "key %s %s %lld\n", h, qs_tkey_role_name(k->cur.k[i].role),
			(long long)k->cur.k[i].not_after);
	}
}

/* RUN_DIR/ticket-keys: names and roles for inspect and tests, no material. */
static void write_info(struct qs_keys *k)
{
	char tmp[sizeof(k->info_path) + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", k->info_path);
	f = fopen(tmp, "we");
	if (!f) {
		pr_warn("cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	qs_keys_print(k, f);
	fclose(f);
	if (rename(tmp, k->info_path))
		pr_warn("cannot rename %s: %s", tmp, strerror(errno));
}

static void publish(struct qs_keys *k)
{
	qs_tickets_publish(k->shm, &k->cur);
	k->cur.version = k->shm->keys.version;
	write_info(k);
}

static int random_key(struct qs_tkey *key)
{
	if (getrandom(key, offsetof(struct qs_tkey, role), 0) !=
	    (ssize_t)offsetof(struct qs_tkey, role)) {
		pr_warn("getrandom: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* ---- auto: random keys, the retired ones kept for a ticket lifetime ----- */

static int auto_rotate(struct qs_keys *k, int64_t now_ms)
{
	struct qs_tkeys next = { 0 };
	int64_t now_s = now_ms / 1000;
	int ret;

	ret = random_key(&next.k[0]);
	if (ret)
		return ret;
	next.k[0].role = QS_TKEY_ENCRYPT;
	next.n = 1;
	for (uint32_t i = 0; i < k->cur.n && next.n < QS_TKEY_MAX; i++) {
		struct qs_tkey key = k->cur.k[i];

		if (key.role == QS_TKEY_ENCRYPT) {
			key.role = QS_TKEY_DECRYPT;
			key.not_after = now_s + k->cfg->ticket_lifetime_s;
		}
		if (key.not_after > now_s)
			next.k[next.n++] = key;
		explicit_bzero(&key, sizeof(key));
	}
	next.version = k->cur.version;
	k->cur = next;
	explicit_bzero(&next, sizeof(next));
	k->next_change = now_ms + (int64_t)k->cfg->ticket_rotate_s * 1000;
	return 0;
}

/* ---- file: nginx's 80-byte key files ----------------------------------- */

/*
 * Up to max bytes of the key material in path (what names it in err):
 * how many, or -errno with err saying why.
 */
static ssize_t read_secret_bytes(const char *what, const char *path, unsigned char *buf,
				 size_t max, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), e;
	ssize_t n = fd < 0 ? -1 : read(fd, buf, max);

	e = errno;
	if (fd >= 0)
		close(fd);
	if (n < 0) {
		explicit_bzero(buf, max);
		snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(e));
		return -e;
	}
	return n;
}

static int read_key_file(const char *path, struct qs_tkey *key, char *err, size_t errlen)
{
	unsigned char buf[NGINX_KEY_LEN + 1];
	ssize_t n = read_secret_bytes("ticket key file", path, buf, sizeof(buf), err, errlen);

	if (n < 0)
		return (int)n;
	if (n != NGINX_KEY_LEN) {
		explicit_bzero(buf, sizeof(buf));
		snprintf(err, errlen, "ticket key file %s is malformed: %zd bytes, expected "
			 "exactly 80 (nginx's ssl_session_ticket_key format; make one with "
			 "'openssl rand 80 > FILE')", path, n);
		return -EINVAL;
	}
	memcpy(key->name, buf, 16);
	memcpy(key->hmac, buf + 16, 32);
	memcpy(key->aes, buf + 48, 32);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

static int load_files(struct qs_keys *k)
{
	const struct qs_config *cfg = k->cfg;
	struct qs_tkeys next = { 0 };
	char err[512];
	int ret = 0;

	for (unsigned i = 0; i < cfg->n_ticket_paths; i++) {
		ret = read_key_file(cfg->ticket_paths[i], &next.k[i], err, sizeof(err));
		if (ret)
			break;
		next.k[i].role = i == 0 ? QS_TKEY_ENCRYPT : QS_TKEY_DECRYPT;
		for (unsigned j = 0; j < i; j++)
			if (!memcmp(next.k[j].name, next.k[i].name, 16)) {
				snprintf(err, sizeof(err), "ticket key files %s and %s have the "
					 "same key name", cfg->ticket_paths[j],
					 cfg->ticket_paths[i]);
				ret = -EINVAL;
				break;
			}
		if (ret)
			break;
		next.n = i + 1;
	}
	if (ret) {
		explicit_bzero(&next, sizeof(next));
		snprintf(k->last_reload, sizeof(k->last_reload), "error: %s", err);
		pr_warn("%s%s", err, k->cur.n ? "; the keys in force stay" : "");
		return ret;
	}
	next.version = k->cur.version;
	k->cur = next;
	explicit_bzero(&next, sizeof(next));
	snprintf(k->last_reload, sizeof(k->last_reload), "ok");
	return 0;
}

/* ---- fleet: every host derives the key of each epoch from one secret ---- */

static int fleet_key(const unsigned char *secret, size_t len, int64_t epoch,
		     struct qs_tkey *key)
{
	static const char salt[] = "quicsteer fleet ticket key v1";
	unsigned char info[8], out[NGINX_KEY_LEN];
	OSSL_PARAM params[5], *p = params;
	EVP_KDF_CTX *kctx = NULL;
	EVP_KDF *kdf;
	int ret = -EIO;

	for (int i = 0; i < 8; i++)
		info[i] = (unsigned char)((uint64_t)epoch >> (56 - 8 * i));
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (kdf)
		kctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (!kctx)
		goto out;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, len);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
						 sizeof(salt) - 1);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof(info));
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, sizeof(out), params) != 1)
		goto out;
	/* the name too comes from the secret: another fleet's tickets are unknown */
	memcpy(key->name, out, 16);
	memcpy(key->hmac, out + 16, 32);
	memcpy(key->aes, out + 48, 32);
	ret = 0;
out:
	if (ret)
		pr_warn("HKDF for the fleet ticket key failed: %s",
			ERR_error_string(ERR_get_error(), NULL));
	explicit_bzero(out, sizeof(out));
	EVP_KDF_CTX_free(kctx);
	return ret;
}

static int read_secret(const char *path, unsigned char *buf, size_t *len, char *err,
		       size_t errlen)
{
	ssize_t n = read_secret_bytes("fleet secret", path, buf, FLEET_SECRET_MAX + 1, err, errlen);

	if (n < 0)
		return (int)n;
	if (n < FLEET_SECRET_MIN || n > FLEET_SECRET_MAX) {
		snprintf(err, errlen, "fleet secret %s is malformed: %zd bytes, expected %d..%d "
			 "(make one with 'openssl rand 32 > FILE' and copy it to every host)",
			 path, n, FLEET_SECRET_MIN, FLEET_SECRET_MAX);
		return -EINVAL;
	}
	*len = (size_t)n;
	return 0;
}

/*
 * The epoch's key encrypts; the next epoch's decrypts (a host whose clock
 * runs ahead already issues with it), and so do the past epochs whose
 * tickets can still be alive.
 */
static int fleet_derive(struct qs_keys *k, int64_t now_ms)
{
	const struct qs_config *cfg = k->cfg;
	unsigned char secret[FLEET_SECRET_MAX + 1];
	struct qs_tkeys next = { 0 };
	char err[512];
	int64_t rot = cfg->ticket_rotate_s, epoch = now_ms / 1000 / rot;
	int64_t past = (cfg->ticket_lifetime_s + rot - 1) / rot;
	size_t len = 0;
	int ret;

	ret = read_secret(cfg->ticket_paths[0], secret, &len, err, sizeof(err));
	if (ret) {
		explicit_bzero(secret, sizeof(secret));	/* a malformed one is still secret */
		snprintf(k->last_reload, sizeof(k->last_reload), "error: %s", err);
		pr_warn("%s%s", err, k->cur.n ? "; the keys in force stay" : "");
		if (k->cur.n)	/* retry at the next epoch */
			k->next_change = (epoch + 1) * rot * 1000;
		return ret;
	}
	for (int64_t e = epoch; e >= epoch - past && next.n < QS_TKEY_MAX - 1 && !ret; e--) {
		struct qs_tkey *key = &next.k[next.n++];

		ret = fleet_key(secret, len, e, key);
		key->role = e == epoch ? QS_TKEY_ENCRYPT : QS_TKEY_DECRYPT;
		key->not_after = e == epoch ? 0 : (e + 1) * rot + cfg->ticket_lifetime_s;
	}
	if (!ret) {
		struct qs_tkey *key = &next.k[next.n++];

		ret = fleet_key(secret, len, epoch + 1, key);
		key->role = QS_TKEY_DECRYPT;
	}
	explicit_bzero(secret, sizeof(secret));
	if (ret) {
		explicit_bzero(&next, sizeof(next));
		return ret;
	}
	next.version = k->cur.version;
	k->cur = next;
	explicit_bzero(&next, sizeof(next));
	k->epoch = epoch;
	k->next_change = (epoch + 1) * rot * 1000;
	snprintf(k->last_reload, sizeof(k->last_reload), "ok");
	return 0;
}

/* ---- interface ---------------------------------------------------------- */

void qs_tkey_name_hash(const unsigned char name[16], char out[17])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(name, 16, md);
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int qs_keys_init(struct qs_keys *k, const struct qs_config *cfg, const char *run_dir)
{
	int ret;

	memset(k, 0, sizeof(*k));
	k->cfg = cfg;
	snprintf(k->info_path, sizeof(k->info_path), "%s/ticket-keys", run_dir);
	snprintf(k->last_reload, sizeof(k->last_reload), "ok");
	k->shm = qs_tickets_create(&k->shm_fd);
	if (!k->shm) {
		pr_warn("cannot map shared memory for the ticket keys: %s", strerror(errno));
		return -ENOMEM;
	}
	if (getrandom(k->shm->strike_key, sizeof(k->shm->strike_key), 0) !=
	    sizeof(k->shm->strike_key) ||
	    getrandom(k->shm->host_id, sizeof(k->shm->host_id), 0) != sizeof(k->shm->host_id))
		return -errno;
	switch (cfg->ticket_source) {
	case QS_TICKETS_AUTO:
		ret = auto_rotate(k, wall_ms());
		break;
	case QS_TICKETS_FILE:
		ret = load_files(k);
		break;
	default:
		ret = fleet_derive(k, wall_ms());
		break;
	}
	if (ret)
		return ret;
	publish(k);
	pr_info("session tickets: %s keys, %u in force, lifetime %us%s",
		cfg->ticket_source == QS_TICKETS_AUTO ? "random" :
		cfg->ticket_source == QS_TICKETS_FILE ? "file" : "fleet", k->cur.n,
		cfg->ticket_lifetime_s, cfg->early_data ? ", 0-RTT on" : ", 0-RTT off");
	return 0;
}

int qs_keys_adopt(struct qs_keys *k, const struct qs_config *cfg, const char *run_dir,
		  int shm_fd, int64_t next_change, int64_t epoch)
{
	memset(k, 0, sizeof(*k));
	k->cfg = cfg;
	k->shm_fd = -1;
	snprintf(k->info_path, sizeof(k->info_path), "%s/ticket-keys", run_dir);
	snprintf(k->last_reload, sizeof(k->last_reload), "ok");
	k->shm = qs_secret_adopt(shm_fd, sizeof(*k->shm), "the ticket keys");
	if (!k->shm) {
		pr_warn("cannot map the ticket keys of the previous binary: %s", strerror(errno));
		return -EINVAL;
	}
	k->shm_fd = shm_fd;
	qs_tickets_read(k->shm, &k->cur);
	if (k->cur.n > QS_TKEY_MAX) {
		pr_warn("the ticket keys of the previous binary list %u keys, at most %d",
			k->cur.n, QS_TKEY_MAX);
		return -EINVAL;
	}
	k->next_change = next_change;
	k->epoch = epoch;
	write_info(k);
	return 0;
}

int qs_keys_tick(struct qs_keys *k)
{
	int64_t now = wall_ms();
	bool changed = false;

	if (!k->shm)
		return -1;
	if (k->next_change && now >= k->next_change) {
		if (k->cfg->ticket_source == QS_TICKETS_AUTO)
			changed = auto_rotate(k, now) == 0;
		else if (k->cfg->ticket_source == QS_TICKETS_FLEET)
			changed = fleet_derive(k, now) == 0;
		if (changed) {
			publish(k);
			pr_info("session tickets: rotated, %u keys in force", k->cur.n);
		}
	}
	if (!k->next_change)
		return -1;
	now = wall_ms();
	return k->next_change <= now ? 0 :
	       k->next_change - now > 3600000 ? 3600000 : (int)(k->next_change - now);
}

int qs_keys_reload(struct qs_keys *k)
{
	int ret = 0;

	switch (k->cfg->ticket_source) {
	case QS_TICKETS_FILE:
		ret = load_files(k);
		break;
	case QS_TICKETS_FLEET:
		ret = fleet_derive(k, wall_ms());
		break;
	default:
		snprintf(k->last_reload, sizeof(k->last_reload),
			 "ok (auto keys: nothing to re-read)");
		break;
	}
	if (!ret) {
		publish(k);
		pr_info("session tickets: keys re-read, %u in force", k->cur.n);
	} else {
		write_info(k);	/* show the error, with the keys still in force */
	}
	return ret;
}

void qs_keys_destroy(struct qs_keys *k)
{
	explicit_bzero(&k->cur, sizeof(k->cur));
	if (k->info_path[0])
		unlink(k->info_path);
	qs_tickets_destroy(k->shm, k->shm_fd);
	k->shm = NULL;
	k->shm_fd = -1;
}
