namespace DTrust.Store.Internal;

// The two engines' schemas say the same thing in each dialect: enums as their names, times as unix microseconds,
// the wrapped key as its fields. A new step is appended (V2, …) to both lists, never edited once released.

internal static class SqliteSchema
{
    // STRICT tables: SQLite refuses a value of the wrong type instead of storing it as whatever it is.
    public const string V1 = """
        CREATE TABLE users (
            tenant TEXT NOT NULL,
            user_id TEXT NOT NULL,
            given_name TEXT NOT NULL,
            surname TEXT NOT NULL,
            country TEXT NOT NULL,
            phone TEXT NOT NULL,
            ident_method TEXT,
            ident_verified_at_us INTEGER,
            ident_valid_until_us INTEGER,
            ident_stale INTEGER NOT NULL,
            created_at_us INTEGER NOT NULL,
            updated_at_us INTEGER NOT NULL,
            version INTEGER NOT NULL,
            PRIMARY KEY (tenant, user_id)
        ) STRICT;

        CREATE TABLE credentials (
            id TEXT NOT NULL PRIMARY KEY,
            tenant TEXT NOT NULL,
            user_id TEXT NOT NULL,
            organisation TEXT,
            holder_function TEXT,
            level TEXT NOT NULL,
            algorithm TEXT NOT NULL,
            status TEXT NOT NULL,
            certificate BLOB NOT NULL,
            serial_hex TEXT NOT NULL,
            not_after_us INTEGER NOT NULL,
            key_domain TEXT NOT NULL,
            key_algorithm TEXT NOT NULL,
            key_spki BLOB NOT NULL,
            key_salt BLOB NOT NULL,
            key_blob BLOB NOT NULL,
            key_digest BLOB NOT NULL,
            failed_pins INTEGER NOT NULL,
            activated_at_us INTEGER,
            one_factor_consent_at_us INTEGER,
            revocation_reason INTEGER,
            revoked_at_us INTEGER,
            created_at_us INTEGER NOT NULL,
            updated_at_us INTEGER NOT NULL,
            version INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX credentials_by_tenant ON credentials (tenant, id);
        CREATE INDEX credentials_by_user ON credentials (tenant, user_id, id);
        CREATE INDEX credentials_by_status ON credentials (status, level);
        CREATE UNIQUE INDEX credentials_by_serial ON credentials (level, serial_hex);

        CREATE TABLE callers (
            id TEXT NOT NULL,
            tenant TEXT NOT NULL,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            credential_hash BLOB NOT NULL UNIQUE,
            created_at_us INTEGER NOT NULL,
            revoked_at_us INTEGER,
            PRIMARY KEY (tenant, id)
        ) STRICT;

        CREATE TABLE audit_log (
            seq INTEGER NOT NULL PRIMARY KEY,
            time_us INTEGER NOT NULL,
            actor TEXT NOT NULL,
            tenant TEXT NOT NULL,
            credential_id TEXT,
            action_code TEXT NOT NULL,
            outcome TEXT NOT NULL,
            details TEXT,
            previous_hash BLOB NOT NULL,
            hash BLOB NOT NULL
        ) STRICT;

        -- One row: the last sequence and hash, so an append reads one row instead of the log's end.
        CREATE TABLE audit_head (
            id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
            last_seq INTEGER NOT NULL,
            last_hash BLOB NOT NULL
        ) STRICT;
        INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, zeroblob(32));

        CREATE TABLE usage_counts (
            tenant TEXT NOT NULL,
            month TEXT NOT NULL,
            level TEXT NOT NULL,
            signatures INTEGER NOT NULL,
            PRIMARY KEY (tenant, month, level)
        ) STRICT;
        """;

    // Wrong one-time codes per credential and UTC day (ICodeFailureLog); one row per credential, reused each day.
    public const string CodeLimitsV2 = """
        CREATE TABLE code_failures (
            tenant TEXT NOT NULL,
            credential_id TEXT NOT NULL,
            day TEXT NOT NULL,
            wrong_codes INTEGER NOT NULL,
            voided INTEGER NOT NULL,
            PRIMARY KEY (tenant, credential_id)
        ) STRICT;
        """;

    // Every CRL published, per level (ICrlStore); the highest number is the one every node serves.
    public const string CrlsV3 = """
        CREATE TABLE crls (
            level TEXT NOT NULL,
            number INTEGER NOT NULL,
            this_update_us INTEGER NOT NULL,
            next_update_us INTEGER NOT NULL,
            der BLOB NOT NULL,
            PRIMARY KEY (level, number)
        ) STRICT;
        """;

    // Operator unlocks per credential (capped).
    public const string UnlocksV4 = "ALTER TABLE credentials ADD COLUMN unlocks INTEGER NOT NULL DEFAULT 0;";

    // Holder approval (V5): the return URLs a partner registered, and the holders' paired passkeys.
    public const string HolderApprovalV5 = """
        ALTER TABLE callers ADD COLUMN return_urls TEXT NOT NULL DEFAULT '';
        CREATE TABLE passkeys (
            id TEXT NOT NULL PRIMARY KEY,
            tenant TEXT NOT NULL,
            user_id TEXT NOT NULL,
            public_key BLOB NOT NULL,
            sign_count INTEGER NOT NULL,
            backup_eligible INTEGER NOT NULL,
            aaguid TEXT NOT NULL,
            name TEXT NOT NULL,
            created_at_us INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX passkeys_by_user ON passkeys (tenant, user_id, id);
        """;
    // Seals (V6): organisations of a tenant, and the callers bound to each seal credential.
    public const string SealsV6 = """
        ALTER TABLE credentials ADD COLUMN seal_callers TEXT NOT NULL DEFAULT '';
        CREATE TABLE organisations (
            tenant TEXT NOT NULL,
            org_id TEXT NOT NULL,
            name TEXT NOT NULL,
            country TEXT NOT NULL,
            identifier TEXT NOT NULL,
            representative TEXT NOT NULL,
            representative_evidence TEXT NOT NULL,
            representative_phone TEXT NOT NULL,
            evidence_verified_at_us INTEGER NOT NULL,
            created_at_us INTEGER NOT NULL,
            updated_at_us INTEGER NOT NULL,
            version INTEGER NOT NULL,
            PRIMARY KEY (tenant, org_id)
        ) STRICT;
        -- One organisation per register entry, over all tenants: the CA names it, whoever's tenant asked.
        CREATE UNIQUE INDEX organisations_by_identifier ON organisations (identifier);
        """;
}

internal static class PostgresSchema
{
    // Ids and serials collate as bytes ("C"), so paging by id orders the same as in SQLite whatever the database locale.
    public const string V1 = """
        CREATE TABLE users (
            tenant text COLLATE "C" NOT NULL,
            user_id text COLLATE "C" NOT NULL,
            given_name text NOT NULL,
            surname text NOT NULL,
            country text NOT NULL,
            phone text NOT NULL,
            ident_method text,
            ident_verified_at_us bigint,
            ident_valid_until_us bigint,
            ident_stale bigint NOT NULL,
            created_at_us bigint NOT NULL,
            updated_at_us bigint NOT NULL,
            version bigint NOT NULL,
            PRIMARY KEY (tenant, user_id)
        );

        CREATE TABLE credentials (
            id text COLLATE "C" NOT NULL PRIMARY KEY,
            tenant text COLLATE "C" NOT NULL,
            user_id text COLLATE "C" NOT NULL,
            organisation text,
            holder_function text,
            level text NOT NULL,
            algorithm text NOT NULL,
            status text NOT NULL,
            certificate bytea NOT NULL,
            serial_hex text COLLATE "C" NOT NULL,
            not_after_us bigint NOT NULL,
            key_domain text NOT NULL,
            key_algorithm text NOT NULL,
            key_spki bytea NOT NULL,
            key_salt bytea NOT NULL,
            key_blob bytea NOT NULL,
            key_digest bytea NOT NULL,
            failed_pins bigint NOT NULL,
            activated_at_us bigint,
            one_factor_consent_at_us bigint,
            revocation_reason bigint,
            revoked_at_us bigint,
            created_at_us bigint NOT NULL,
            updated_at_us bigint NOT NULL,
            version bigint NOT NULL
        );
        CREATE INDEX credentials_by_tenant ON credentials (tenant, id);
        CREATE INDEX credentials_by_user ON credentials (tenant, user_id, id);
        CREATE INDEX credentials_by_status ON credentials (status, level);
        CREATE UNIQUE INDEX credentials_by_serial ON credentials (level, serial_hex);

        CREATE TABLE callers (
            id text COLLATE "C" NOT NULL,
            tenant text COLLATE "C" NOT NULL,
            name text NOT NULL,
            role text NOT NULL,
            credential_hash bytea NOT NULL UNIQUE,
            created_at_us bigint NOT NULL,
            revoked_at_us bigint,
            PRIMARY KEY (tenant, id)
        );

        CREATE TABLE audit_log (
            seq bigint NOT NULL PRIMARY KEY,
            time_us bigint NOT NULL,
            actor text NOT NULL,
            tenant text NOT NULL,
            credential_id text,
            action_code text NOT NULL,
            outcome text NOT NULL,
            details text,
            previous_hash bytea NOT NULL,
            hash bytea NOT NULL
        );

        -- One row, locked FOR UPDATE by every append transaction: the chain has one writer at a time across nodes.
        CREATE TABLE audit_head (
            id bigint NOT NULL PRIMARY KEY CHECK (id = 1),
            last_seq bigint NOT NULL,
            last_hash bytea NOT NULL
        );
        INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

        CREATE TABLE usage_counts (
            tenant text COLLATE "C" NOT NULL,
            month text COLLATE "C" NOT NULL,
            level text NOT NULL,
            signatures bigint NOT NULL,
            PRIMARY KEY (tenant, month, level)
        );
        """;

    public const string CodeLimitsV2 = """
        CREATE TABLE code_failures (
            tenant text COLLATE "C" NOT NULL,
            credential_id text COLLATE "C" NOT NULL,
            day text COLLATE "C" NOT NULL,
            wrong_codes bigint NOT NULL,
            voided bigint NOT NULL,
            PRIMARY KEY (tenant, credential_id)
        );
        """;

    public const string CrlsV3 = """
        CREATE TABLE crls (
            level text COLLATE "C" NOT NULL,
            number bigint NOT NULL,
            this_update_us bigint NOT NULL,
            next_update_us bigint NOT NULL,
            der bytea NOT NULL,
            PRIMARY KEY (level, number)
        );
        """;

    public const string UnlocksV4 = "ALTER TABLE credentials ADD COLUMN unlocks bigint NOT NULL DEFAULT 0;";

    public const string HolderApprovalV5 = """
        ALTER TABLE callers ADD COLUMN return_urls text NOT NULL DEFAULT '';
        CREATE TABLE passkeys (
            id text COLLATE "C" NOT NULL PRIMARY KEY,
            tenant text COLLATE "C" NOT NULL,
            user_id text COLLATE "C" NOT NULL,
            public_key bytea NOT NULL,
            sign_count bigint NOT NULL,
            backup_eligible bigint NOT NULL,
            aaguid text NOT NULL,
            name text NOT NULL,
            created_at_us bigint NOT NULL
        );
        CREATE INDEX passkeys_by_user ON passkeys (tenant, user_id, id);
        """;

    public const string SealsV6 = """
        ALTER TABLE credentials ADD COLUMN seal_callers text NOT NULL DEFAULT '';
        CREATE TABLE organisations (
            tenant text COLLATE "C" NOT NULL,
            org_id text COLLATE "C" NOT NULL,
            name text NOT NULL,
            country text NOT NULL,
            identifier text NOT NULL,
            representative text NOT NULL,
            representative_evidence text NOT NULL,
            representative_phone text NOT NULL,
            evidence_verified_at_us bigint NOT NULL,
            created_at_us bigint NOT NULL,
            updated_at_us bigint NOT NULL,
            version bigint NOT NULL,
            PRIMARY KEY (tenant, org_id)
        );
        CREATE UNIQUE INDEX organisations_by_identifier ON organisations (identifier);
        """;
}
