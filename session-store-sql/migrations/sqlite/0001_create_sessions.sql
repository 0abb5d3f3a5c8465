-- Sessions, keyed by the SHA-256 of the session ID (never the ID itself).
-- Times are Unix seconds (UTC).
CREATE TABLE IF NOT EXISTS {table} (
    id         TEXT    NOT NULL PRIMARY KEY,
    data       BLOB    NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    user_key   TEXT
);
CREATE INDEX IF NOT EXISTS {table}_expires_at ON {table} (expires_at);
CREATE INDEX IF NOT EXISTS {table}_user_key ON {table} (user_key);
