package queue

// migration is one step of the schema. Steps are applied in order and never
// edited once released: a change is a new step.
type migration struct {
	version int
	name    string
	sql     string
}

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
}
