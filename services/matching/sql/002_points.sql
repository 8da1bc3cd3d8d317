-- matching: the points ledger (积分) and the points supermarket (积分超市).
--
-- Double-entry and append-only (docs/matching.md, "Points and the
-- supermarket"): every movement is one ledger_tx whose entries sum to
-- zero (checked at commit); balances are kept by a trigger on entries in
-- the same transaction, so a balance is always the sum of its entries;
-- a person's balance never goes below zero (a CHECK, and the functions
-- refuse before writing); nothing in entries, ledger_tx or redemptions is
-- ever updated or deleted: a correction is a new transaction.

-- person: volunteer:<id>, rider:<id>, resident:<id>, staff:<id>;
-- system: system:earn (issues every point earned, so it goes negative)
-- and system:shop:<community> (receives the points spent in a shop).
CREATE TABLE {schema}.accounts (
    id             text PRIMARY KEY
                   CHECK (id ~ '^(volunteer|rider|resident|staff|system):[A-Za-z0-9._:-]{1,64}$'),
    kind           text NOT NULL CHECK (kind IN ('person', 'system')),
    community_code text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'system') = (id LIKE 'system:%'))
);

-- One row per account, made with it; only the entries trigger changes it.
CREATE TABLE {schema}.balances (
    account text PRIMARY KEY REFERENCES {schema}.accounts (id),
    balance bigint NOT NULL DEFAULT 0,
    CHECK (balance >= 0 OR account LIKE 'system:%')
);

-- source_key makes an event earn once: service:<id>, report:<request id>,
-- rider_report:<request id>, meeting:<id>:<person>, redeem:<key>, or the
-- operator's key of a correction.
CREATE TABLE {schema}.ledger_tx (
    id         bigserial PRIMARY KEY,
    reason     text NOT NULL
               CHECK (reason IN ('service', 'report', 'rider_report', 'meeting', 'redeem',
                                 'correction')),
    source_key text NOT NULL UNIQUE,
    memo       text NOT NULL DEFAULT '',
    at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {schema}.entries (
    tx_id   bigint NOT NULL REFERENCES {schema}.ledger_tx (id),
    account text NOT NULL REFERENCES {schema}.accounts (id),
    amount  bigint NOT NULL CHECK (amount <> 0),
    PRIMARY KEY (tx_id, account)
);
CREATE INDEX entries_account ON {schema}.entries (account, tx_id);

CREATE TABLE {schema}.shop_items (
    id             text PRIMARY KEY,
    community_code text NOT NULL,
    name           text NOT NULL,                -- Simplified Chinese, shown to residents
    price          bigint NOT NULL CHECK (price > 0),
    stock          integer NOT NULL CHECK (stock >= 0),
    active         boolean NOT NULL DEFAULT true
);
CREATE INDEX shop_items_community ON {schema}.shop_items (community_code);

-- key: the client's idempotency key (a retry answers the first outcome).
CREATE TABLE {schema}.redemptions (
    id       bigserial PRIMARY KEY,
    tx_id    bigint NOT NULL UNIQUE REFERENCES {schema}.ledger_tx (id),
    account  text NOT NULL REFERENCES {schema}.accounts (id),
    item_id  text NOT NULL REFERENCES {schema}.shop_items (id),
    quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    points   bigint NOT NULL CHECK (points > 0),
    key      text NOT NULL UNIQUE,
    at       timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION {schema}.ledger_account_made () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {schema}.balances (account) VALUES (NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER accounts_balance AFTER INSERT ON {schema}.accounts
    FOR EACH ROW EXECUTE FUNCTION {schema}.ledger_account_made ();

CREATE FUNCTION {schema}.ledger_entry_made () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {schema}.balances SET balance = balance + NEW.amount WHERE account = NEW.account;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ledger: account % has no balance row', NEW.account;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER entries_balance AFTER INSERT ON {schema}.entries
    FOR EACH ROW EXECUTE FUNCTION {schema}.ledger_entry_made ();

-- Checked at commit, once all of a transaction's entries are in.
CREATE FUNCTION {schema}.ledger_tx_balanced () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT sum(amount) FROM {schema}.entries WHERE tx_id = NEW.tx_id) <> 0 THEN
        RAISE EXCEPTION 'ledger: transaction % does not sum to zero', NEW.tx_id
            USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER entries_sum_zero AFTER INSERT ON {schema}.entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION {schema}.ledger_tx_balanced ();

CREATE FUNCTION {schema}.ledger_append_only () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = '55000';
END $$;
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {schema}.entries
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.ledger_append_only ();
CREATE TRIGGER ledger_tx_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {schema}.ledger_tx
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.ledger_append_only ();
CREATE TRIGGER redemptions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON {schema}.redemptions
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.ledger_append_only ();

INSERT INTO {schema}.accounts (id, kind) VALUES ('system:earn', 'system');
