-- Sessions, keyed by the SHA-256 of the session ID (never the ID itself).
-- Times are Unix seconds (UTC).
CREATE TABLE IF NOT EXISTS {table} (
    id         VARCHAR(64)  NOT NULL PRIMARY KEY,
    data       BYTEA        NOT NULL,
    version    BIGINT       NOT NULL,
    created_at BIGINT       NOT NULL,
    expires_at BIGINT       NOT NULL,
    user_key   VARCHAR(255)
);
CREATE INDEX IF NOT EXISTS {table}_expires_at ON {table} (expires_at);
CREATE INDEX IF NOT EXISTS {table}_user_key ON {table} (user_key);
