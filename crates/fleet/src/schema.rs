//! The shared store's schema, as numbered migrations applied in order by
//! `rampart fleet init` (each in the one transaction that records it in
//! `rampart_schema`), and the roles it grants to.
//!
//! Design:
//! - One sequence, `rampart_fleet_seq`, orders every change a server must learn of: a new
//!   decision, a lifted one (its row takes a new number), a list replaced. A server keeps
//!   the last number it enforced (its cursor) and reads `seq > cursor`: catch-up after an
//!   outage and the live feed are the same query. Writers take one advisory lock for the
//!   rest of their transaction, so numbers commit in order and no reader skips a number
//!   committed late.
//! - A decision's key is (`origin_server`, `origin_id`): the deciding server and its own
//!   id. Publishing is `INSERT … ON CONFLICT DO NOTHING`: a retry after a lost reply, or a
//!   republication after an outage, changes nothing.
//! - Statement-level triggers send one `NOTIFY rampart_fleet` per writing transaction;
//!   subscribers then read what is new (a notification carries no data to trust).
//! - Least privilege: servers log in as their own role, a member of `rampart_server`.
//!   Row security lets a server insert decisions, refusals and its heartbeat only under
//!   its own name (`current_user`), so one compromised server cannot speak for another;
//!   columns other than the lift's cannot be updated.

/// The schema version this rampart reads and writes.
pub const SCHEMA_VERSION: i32 = 1;

/// The role every server's login role is a member of.
pub const SERVER_ROLE: &str = "rampart_server";

/// The channel of `LISTEN`/`NOTIFY`.
pub const CHANNEL: &str = "rampart_fleet";

/// The advisory lock every writer takes (numbers commit in order).
pub const WRITE_LOCK: i64 = 0x0072_616d_7061_7274; // "rampart" in ASCII

/// The table of applied migrations (created by the first `fleet init`).
pub const SCHEMA_TABLE: &str = "
CREATE TABLE IF NOT EXISTS rampart_schema (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now(),
    applied_by text NOT NULL DEFAULT current_user
)";

/// The migrations: (version, what it does, SQL), in order.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "decisions, lists, servers, refusals; the server role and its grants",
    r#"
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rampart_server') THEN
        CREATE ROLE rampart_server NOLOGIN;
    END IF;
END $$;

CREATE SEQUENCE rampart_fleet_seq;

CREATE TABLE rampart_decisions (
    seq bigint NOT NULL DEFAULT nextval('rampart_fleet_seq') UNIQUE,
    origin_server text NOT NULL,
    origin_id bigint NOT NULL,
    target cidr NOT NULL,
    detector text NOT NULL,
    summary text NOT NULL,
    offence integer NOT NULL,
    origin text NOT NULL,
    evidence jsonb NOT NULL,
    start_at bigint NOT NULL,
    until_at bigint NOT NULL,
    lifted_at bigint,
    lifted_by text,
    PRIMARY KEY (origin_server, origin_id)
);
CREATE INDEX rampart_decisions_until ON rampart_decisions (until_at);
CREATE INDEX rampart_decisions_target ON rampart_decisions USING gist (target inet_ops);

CREATE TABLE rampart_lists (
    name text PRIMARY KEY,
    seq bigint NOT NULL DEFAULT nextval('rampart_fleet_seq') UNIQUE,
    entries bigint NOT NULL,
    source text NOT NULL,
    imported_by text NOT NULL DEFAULT current_user,
    imported_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE rampart_list_entries (
    list text NOT NULL REFERENCES rampart_lists (name) ON DELETE CASCADE,
    prefix cidr NOT NULL,
    PRIMARY KEY (list, prefix)
);

CREATE TABLE rampart_servers (
    name text PRIMARY KEY,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now(),
    cursor bigint NOT NULL DEFAULT 0,
    version text NOT NULL DEFAULT ''
);

CREATE TABLE rampart_refusals (
    server text NOT NULL,
    origin_server text NOT NULL,
    origin_id bigint NOT NULL,
    target cidr NOT NULL,
    why text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server, origin_server, origin_id)
);

CREATE FUNCTION rampart_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rampart_fleet', TG_TABLE_NAME);
    RETURN NULL;
END $$;
CREATE TRIGGER rampart_decisions_notify AFTER INSERT OR UPDATE ON rampart_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION rampart_notify();
CREATE TRIGGER rampart_lists_notify AFTER INSERT OR UPDATE ON rampart_lists
    FOR EACH STATEMENT EXECUTE FUNCTION rampart_notify();

ALTER TABLE rampart_decisions ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON rampart_decisions FOR SELECT TO rampart_server USING (true);
CREATE POLICY publish ON rampart_decisions FOR INSERT TO rampart_server
    WITH CHECK (origin_server = current_user);
CREATE POLICY lift ON rampart_decisions FOR UPDATE TO rampart_server
    USING (true) WITH CHECK (lifted_by = current_user);

ALTER TABLE rampart_servers ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON rampart_servers FOR SELECT TO rampart_server USING (true);
CREATE POLICY own ON rampart_servers FOR INSERT TO rampart_server
    WITH CHECK (name = current_user);
CREATE POLICY own_update ON rampart_servers FOR UPDATE TO rampart_server
    USING (name = current_user) WITH CHECK (name = current_user);

ALTER TABLE rampart_refusals ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON rampart_refusals FOR SELECT TO rampart_server USING (true);
CREATE POLICY own ON rampart_refusals FOR INSERT TO rampart_server
    WITH CHECK (server = current_user);
CREATE POLICY own_update ON rampart_refusals FOR UPDATE TO rampart_server
    USING (server = current_user) WITH CHECK (server = current_user);

GRANT SELECT ON rampart_schema TO rampart_server;
GRANT USAGE ON SEQUENCE rampart_fleet_seq TO rampart_server;
GRANT SELECT, INSERT ON rampart_decisions TO rampart_server;
GRANT UPDATE (seq, lifted_at, lifted_by) ON rampart_decisions TO rampart_server;
GRANT SELECT, INSERT, UPDATE, DELETE ON rampart_lists, rampart_list_entries TO rampart_server;
GRANT SELECT, INSERT ON rampart_servers TO rampart_server;
GRANT UPDATE (last_seen, cursor, version) ON rampart_servers TO rampart_server;
GRANT SELECT, INSERT ON rampart_refusals TO rampart_server;
GRANT UPDATE (why, at, target) ON rampart_refusals TO rampart_server;
"#,
)];
