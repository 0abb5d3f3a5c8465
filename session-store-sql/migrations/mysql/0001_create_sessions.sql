-- Sessions, keyed by the SHA-256 of the session ID (never the ID itself).
-- Times are Unix seconds (UTC).
CREATE TABLE IF NOT EXISTS {table} (
    id         VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    data       LONGBLOB     NOT NULL,
    version    BIGINT       NOT NULL,
    created_at BIGINT       NOT NULL,
    expires_at BIGINT       NOT NULL,
    user_key   VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    INDEX {table}_expires_at (expires_at),
    INDEX {table}_user_key (user_key)
) ENGINE=InnoDB;
