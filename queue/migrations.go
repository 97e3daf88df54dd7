package queue

import (
	"strconv"
	"strings"
)

// migration is one step of the schema. Steps are applied in order and never
// edited once released: a change is a new step.
type migration struct {
	version int
	name    string
	sql     string
}

// postgresMigrations holds, by version, the steps for PostgreSQL whose
// SQLite text, its column types translated (postgresSchema), does not do.
// Most steps need none.
var postgresMigrations = map[int]string{}

var migrations = []migration{
	{1, "registry", `
CREATE TABLE certificates (
	id              INTEGER PRIMARY KEY,
	issuer_dn       TEXT NOT NULL,
	serial          TEXT NOT NULL,  -- lower-case hex, no leading zeros
	subject_dn      TEXT NOT NULL,
	email           TEXT NOT NULL,
	surname         TEXT NOT NULL,
	given_name      TEXT NOT NULL,
	common_name     TEXT NOT NULL,
	identity_serial TEXT NOT NULL,
	organization    TEXT NOT NULL,
	siren           TEXT NOT NULL,
	not_before      TEXT NOT NULL,
	not_after       TEXT NOT NULL,
	revoked         INTEGER NOT NULL DEFAULT 0,
	revoked_at      TEXT,
	sha256          TEXT NOT NULL,
	der             BLOB,
	created_at      TEXT NOT NULL,
	updated_at      TEXT NOT NULL,
	UNIQUE (issuer_dn, serial)
);
CREATE INDEX certificates_serial ON certificates (serial);

CREATE TABLE representatives (
	id          INTEGER PRIMARY KEY,
	siren       TEXT NOT NULL,
	surname     TEXT NOT NULL,
	given_name  TEXT NOT NULL,
	email       TEXT NOT NULL,
	email_norm  TEXT NOT NULL,
	valid_from  TEXT NOT NULL,  -- YYYY-MM-DD, a day in France
	valid_to    TEXT,           -- last day in office; NULL while in office
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL,
	UNIQUE (siren, email_norm, valid_from)
);
`},
	{2, "worker", `
-- One row per mail fetched from a mailbox, written before the mail is
-- parsed. raw_sha256 is '' for a mail over the size cap, which is not kept.
CREATE TABLE mails (
	id            INTEGER PRIMARY KEY,
	mailbox       TEXT NOT NULL,
	uidvalidity   INTEGER NOT NULL,
	uid           INTEGER NOT NULL,
	message_id    TEXT NOT NULL,
	raw_sha256    TEXT NOT NULL,
	size          INTEGER NOT NULL,
	over_cap      INTEGER NOT NULL,
	sender        TEXT NOT NULL,
	received_at   TEXT NOT NULL,
	state         TEXT NOT NULL,              -- received | handled
	disposition   TEXT NOT NULL DEFAULT '',   -- processed | rejected, once handled
	not_a_request TEXT NOT NULL DEFAULT '',   -- why the mail is not a request
	created_at    TEXT NOT NULL,
	handled_at    TEXT,
	UNIQUE (mailbox, uidvalidity, uid)
);
CREATE INDEX mails_raw_sha256 ON mails (raw_sha256) WHERE raw_sha256 <> '';

-- Content-addressed evidence, each content stored once.
CREATE TABLE evidence (
	sha256     TEXT PRIMARY KEY,
	kind       TEXT NOT NULL,   -- eml | pdf | report | decision
	bytes      BLOB NOT NULL,
	size       INTEGER NOT NULL,
	created_at TEXT NOT NULL
);

-- One row per PDF examined, or per mail that was not a request.
CREATE TABLE requests (
	id                INTEGER PRIMARY KEY,
	mail_id           INTEGER NOT NULL REFERENCES mails (id),
	state             TEXT NOT NULL,   -- revocation.State
	reason_code       TEXT NOT NULL DEFAULT '',
	reason            TEXT NOT NULL DEFAULT '',
	serial            TEXT NOT NULL DEFAULT '',
	issuer_dn         TEXT NOT NULL DEFAULT '',
	revocation_reason INTEGER NOT NULL DEFAULT 0,
	no_reason_code    INTEGER NOT NULL DEFAULT 0,
	role              TEXT NOT NULL DEFAULT '',
	signer_subject    TEXT NOT NULL DEFAULT '',
	signer_serial     TEXT NOT NULL DEFAULT '',
	attachment_name   TEXT NOT NULL DEFAULT '',
	pdf_sha256        TEXT NOT NULL DEFAULT '',
	report_sha256     TEXT NOT NULL DEFAULT '',
	decision_sha256   TEXT NOT NULL DEFAULT '',
	form_sha256       TEXT NOT NULL DEFAULT '',
	job_id            INTEGER REFERENCES revocation_jobs (id),
	note              TEXT NOT NULL DEFAULT '',
	created_at        TEXT NOT NULL,
	updated_at        TEXT NOT NULL
);
CREATE INDEX requests_mail ON requests (mail_id);
CREATE INDEX requests_state ON requests (state);
CREATE INDEX requests_job ON requests (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX requests_pdf ON requests (pdf_sha256) WHERE pdf_sha256 <> '';
CREATE INDEX requests_form ON requests (serial, form_sha256) WHERE form_sha256 <> '';

-- The revocations asked of the CA. UNIQUE (issuer_dn, serial) is the
-- ledger: rows are never deleted, so a certificate is queued once, ever.
CREATE TABLE revocation_jobs (
	id              INTEGER PRIMARY KEY,
	request_id      INTEGER NOT NULL REFERENCES requests (id),
	issuer_dn       TEXT NOT NULL,
	serial          TEXT NOT NULL,
	reason          INTEGER NOT NULL,
	no_reason_code  INTEGER NOT NULL,
	state           TEXT NOT NULL,   -- pending | running | done | failed
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at TEXT NOT NULL,   -- when running: the end of the lease
	lease_until     TEXT,
	last_error      TEXT NOT NULL DEFAULT '',
	created_at      TEXT NOT NULL,
	updated_at      TEXT NOT NULL,
	done_at         TEXT,
	UNIQUE (issuer_dn, serial)
);
-- Only the jobs an executor may claim: finished rows pile up and must not
-- slow the claim down.
CREATE INDEX revocation_jobs_claimable ON revocation_jobs (next_attempt_at, id)
	WHERE state IN ('pending', 'running');
-- The leases to look after: few rows, whatever the number pending.
CREATE INDEX revocation_jobs_running ON revocation_jobs (next_attempt_at) WHERE state = 'running';

CREATE TABLE outbox (
	id              INTEGER PRIMARY KEY,
	mail_id         INTEGER NOT NULL REFERENCES mails (id),
	kind            TEXT NOT NULL,   -- acknowledgement | result
	recipient       TEXT NOT NULL,
	subject         TEXT NOT NULL,
	body            TEXT NOT NULL,
	state           TEXT NOT NULL,   -- pending | sent | failed
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at TEXT NOT NULL,
	lease_until     TEXT,
	last_error      TEXT NOT NULL DEFAULT '',
	created_at      TEXT NOT NULL,
	sent_at         TEXT
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at, id) WHERE state = 'pending';

-- Append-only, hash-chained log (see audit.go for the hash).
CREATE TABLE audit (
	seq       INTEGER PRIMARY KEY,
	at        TEXT NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	subject   TEXT NOT NULL,
	details   TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash      TEXT NOT NULL
);
CREATE INDEX audit_subject ON audit (subject);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- Named leases: one worker per mailbox.
CREATE TABLE leases (
	name   TEXT PRIMARY KEY,
	holder TEXT NOT NULL,
	until  TEXT NOT NULL
);
`}, {3, "one leased queue", `
-- The outbox takes the revocation jobs' shape: a claimed mail is 'running'
-- (it was 'pending' with a lease), and every change is dated.
ALTER TABLE outbox ADD COLUMN updated_at TEXT NOT NULL DEFAULT '';
UPDATE outbox SET state = 'running' WHERE state = 'pending' AND lease_until IS NOT NULL;
DROP INDEX outbox_pending;
CREATE INDEX outbox_claimable ON outbox (next_attempt_at, id) WHERE state IN ('pending', 'running');
`},
	{4, "notifications", `
-- The outbox learns the mails that answer no single incoming mail
-- (operator alerts: mail_id NULL), the request a mail is about
-- (request_id: its reference number), the facts its template is rendered
-- from (data, JSON; body stays '' for such rows until sent), and a
-- suppressed state for answers held back by the abuse limits.
CREATE TABLE outbox_new (
	id              INTEGER PRIMARY KEY,
	mail_id         INTEGER REFERENCES mails (id),
	request_id      INTEGER REFERENCES requests (id),
	kind            TEXT NOT NULL,
	recipient       TEXT NOT NULL,
	subject         TEXT NOT NULL,
	body            TEXT NOT NULL,
	data            TEXT NOT NULL DEFAULT '',
	state           TEXT NOT NULL,   -- pending | running | sent | failed | suppressed
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at TEXT NOT NULL,
	lease_until     TEXT,
	last_error      TEXT NOT NULL DEFAULT '',
	created_at      TEXT NOT NULL,
	updated_at      TEXT NOT NULL DEFAULT '',
	sent_at         TEXT
);
INSERT INTO outbox_new (id, mail_id, kind, recipient, subject, body, state, attempts, next_attempt_at, lease_until,
	last_error, created_at, updated_at, sent_at)
	SELECT id, mail_id, kind, recipient, subject, body, state, attempts, next_attempt_at, lease_until,
		last_error, created_at, updated_at, sent_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_claimable ON outbox (next_attempt_at, id) WHERE state IN ('pending', 'running');
CREATE INDEX outbox_mail ON outbox (mail_id);
CREATE INDEX outbox_request ON outbox (request_id) WHERE request_id IS NOT NULL;
-- One revocation-done confirmation per request and address, whatever
-- happens (the transaction that marks the job done queues it once).
CREATE UNIQUE INDEX outbox_revocation_done ON outbox (request_id, lower(recipient)) WHERE kind = 'revocation_done';
-- The abuse limits count what was sent lately, by recipient and domain.
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE state = 'sent';

-- The items operators were alerted about, each once (see notify's alerts).
CREATE TABLE alerted (
	item       TEXT PRIMARY KEY,  -- "review:REQUEST", "execution:JOB", "job-failed:JOB:ATTEMPTS", "outbox-failed:ID"
	outbox_id  INTEGER,           -- the first digest row that named it
	alerted_at TEXT NOT NULL
);
`},
	{5, "mail evidence", `
-- What a mail says of its origin beyond its PDFs (S/MIME layers, DKIM,
-- Authentication-Results, a From read leniently, parts not opened), as
-- JSON in the evidence table (kind 'mail-evidence'); '' when none.
ALTER TABLE mails ADD COLUMN evidence_sha256 TEXT NOT NULL DEFAULT '';
`},
	{6, "parked mails", `
-- A mail set aside: state 'parked', why (a code and a sentence), and when
-- it is tried again. Cleared by the outcome that ends it.
ALTER TABLE mails ADD COLUMN parked_code TEXT NOT NULL DEFAULT '';
ALTER TABLE mails ADD COLUMN parked_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE mails ADD COLUMN parked_until TEXT;
CREATE INDEX mails_parked ON mails (received_at) WHERE state = 'parked';
`},
	{7, "review", `
-- The accounts of the review desk. password_hash is an argon2id PHC
-- string; totp_secret the base32 TOTP key ('' when the account logs in
-- with a client certificate only).
CREATE TABLE operators (
	id            INTEGER PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	role          TEXT NOT NULL,   -- operator | approver | auditor
	password_hash TEXT NOT NULL,
	totp_secret   TEXT NOT NULL,
	disabled      INTEGER NOT NULL DEFAULT 0,
	created_at    TEXT NOT NULL,
	updated_at    TEXT NOT NULL
);

-- Proposals to accept a refused request, waiting for a second operator.
CREATE TABLE overrides (
	id             INTEGER PRIMARY KEY,
	request_id     INTEGER NOT NULL REFERENCES requests (id),
	state          TEXT NOT NULL,   -- pending | approved | rejected | expired
	proposer       TEXT NOT NULL,
	proposer_role  TEXT NOT NULL,
	justification  TEXT NOT NULL,
	serial         TEXT NOT NULL,
	issuer_dn      TEXT NOT NULL,
	reason         INTEGER NOT NULL,
	no_reason_code INTEGER NOT NULL,
	proposed_at    TEXT NOT NULL,
	expires_at     TEXT NOT NULL,
	decided_by     TEXT NOT NULL DEFAULT '',
	decided_role   TEXT NOT NULL DEFAULT '',
	decided_at     TEXT,
	note           TEXT NOT NULL DEFAULT '',
	job_id         INTEGER REFERENCES revocation_jobs (id)
);
CREATE UNIQUE INDEX overrides_one_pending ON overrides (request_id) WHERE state = 'pending';

ALTER TABLE requests ADD COLUMN review_action TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN review_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN reverified_at TEXT;
`},
	{8, "verifications", `
-- Archived mails waiting to be verified and decided: a leased queue (the
-- same columns and states as revocation_jobs and the outbox), so that
-- every worker sharing the store takes its share and a mail whose
-- verifier died is taken up again when the lease runs out. id is the
-- mail's. A mail over the size cap has none: it is decided at once.
CREATE TABLE verifications (
	id              INTEGER NOT NULL PRIMARY KEY REFERENCES mails (id),
	state           TEXT NOT NULL,   -- pending | running | done | failed
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at TEXT NOT NULL,
	lease_until     TEXT,
	last_error      TEXT NOT NULL DEFAULT '',
	created_at      TEXT NOT NULL,
	updated_at      TEXT NOT NULL,
	done_at         TEXT
);
CREATE INDEX verifications_claimable ON verifications (next_attempt_at, id) WHERE state IN ('pending', 'running');
INSERT INTO verifications (id, state, next_attempt_at, created_at, updated_at)
	SELECT id, 'pending', created_at, created_at, created_at FROM mails
	WHERE state IN ('received', 'parked') AND over_cap = 0;
`},
}

// The steps whose SQLite text PostgreSQL does not take as it is: the
// mutual references of requests and revocation_jobs (PostgreSQL wants a
// table before a reference to it), the append-only triggers (PostgreSQL's
// call a function), and the outbox's rebuild (SQLite cannot drop a NOT
// NULL; PostgreSQL alters the column in place).
func init() {
	postgresMigrations[2] = postgresSchema(edit(migrations[1].sql,
		`job_id            INTEGER REFERENCES revocation_jobs (id),`,
		`job_id            INTEGER,`,
		`CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;`,
		`ALTER TABLE requests ADD FOREIGN KEY (job_id) REFERENCES revocation_jobs (id);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql
	AS $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();`))
	postgresMigrations[4] = `
ALTER TABLE outbox ALTER COLUMN mail_id DROP NOT NULL;
ALTER TABLE outbox ADD COLUMN request_id BIGINT REFERENCES requests (id);
ALTER TABLE outbox ADD COLUMN data TEXT NOT NULL DEFAULT '';
CREATE INDEX outbox_mail ON outbox (mail_id);
CREATE INDEX outbox_request ON outbox (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE state = 'sent';
CREATE TABLE alerted (
	item       TEXT PRIMARY KEY,
	outbox_id  BIGINT,
	alerted_at TEXT NOT NULL
);
`
}

// edit replaces each old text of s (pairs of old, new) once; a released
// migration's text never changes, so a miss is a programming error.
func edit(s string, pairs ...string) string {
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			panic("queue: migration edit finds no " + strconv.Quote(pairs[i]))
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}
