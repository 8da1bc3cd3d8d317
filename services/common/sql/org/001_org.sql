-- The org directory: the administrative ladder, buildings (QR codes),
-- staff and department-community pairings (结对). See gz_org.h and
-- docs/org-format.md. Written by gzctl (migrate, seed, org import);
-- read by every service through gz_org_load.
--
-- The ladder is enforced by the database, not only by the importer: each
-- row carries a generated "parent level" column and a composite foreign
-- key to units (code, level), so a grid can only hang under a community,
-- a building only under a grid, a grid worker only at a grid, and so on.

CREATE TABLE {schema}.units (
    code         text PRIMARY KEY
                 CHECK (code ~ '^[A-Za-z0-9._-]{1,64}$'),
    level        text NOT NULL
                 CHECK (level IN ('district', 'subdistrict', 'community', 'grid', 'department')),
    parent_code  text,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    phone        text CHECK (phone ~ '^[0-9+() -]{3,32}$'),
    sort_order   integer NOT NULL DEFAULT 0,
    synthetic    boolean NOT NULL DEFAULT false,
    parent_level text GENERATED ALWAYS AS (
                     CASE level
                         WHEN 'subdistrict' THEN 'district'
                         WHEN 'community' THEN 'subdistrict'
                         WHEN 'grid' THEN 'community'
                         WHEN 'department' THEN 'district'
                     END) STORED,
    UNIQUE (code, level),
    CHECK ((level = 'district') = (parent_code IS NULL)),
    FOREIGN KEY (parent_code, parent_level) REFERENCES {schema}.units (code, level)
);
CREATE INDEX units_parent_idx ON {schema}.units (parent_code);
CREATE INDEX units_level_idx ON {schema}.units (level, sort_order, code);

CREATE TABLE {schema}.buildings (
    code        text PRIMARY KEY
                CHECK (code ~ '^[A-Za-z0-9._-]{1,64}$'),  -- URL-safe: /q/<code>
    grid_code   text NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    address     text NOT NULL DEFAULT '' CHECK (length(address) <= 500),
    lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon         double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    households  integer NOT NULL DEFAULT 0 CHECK (households >= 0),
    sort_order  integer NOT NULL DEFAULT 0,
    synthetic   boolean NOT NULL DEFAULT false,
    grid_level  text GENERATED ALWAYS AS ('grid') STORED,
    FOREIGN KEY (grid_code, grid_level) REFERENCES {schema}.units (code, level)
);
CREATE INDEX buildings_grid_idx ON {schema}.buildings (grid_code);

CREATE TABLE {schema}.staff (
    id          text PRIMARY KEY
                CHECK (id ~ '^[A-Za-z0-9._-]{1,64}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role        text NOT NULL
                CHECK (role IN ('grid_worker', 'grid_cadre', 'community_duty',
                                'community_secretary', 'subdistrict_coordinator',
                                'department_contact', 'district_leader')),
    unit_code   text NOT NULL,
    phone       text CHECK (phone ~ '^[0-9+() -]{3,32}$'),
    on_duty     boolean NOT NULL DEFAULT true,
    max_open    integer CHECK (max_open >= 0),       -- NULL: no per-person cap
    sort_order  integer NOT NULL DEFAULT 0,
    synthetic   boolean NOT NULL DEFAULT false,
    unit_level  text GENERATED ALWAYS AS (
                    CASE role
                        WHEN 'grid_worker' THEN 'grid'
                        WHEN 'grid_cadre' THEN 'grid'
                        WHEN 'community_duty' THEN 'community'
                        WHEN 'community_secretary' THEN 'community'
                        WHEN 'subdistrict_coordinator' THEN 'subdistrict'
                        WHEN 'department_contact' THEN 'department'
                        WHEN 'district_leader' THEN 'district'
                    END) STORED,
    FOREIGN KEY (unit_code, unit_level) REFERENCES {schema}.units (code, level)
);
CREATE INDEX staff_unit_idx ON {schema}.staff (unit_code, role);

CREATE TABLE {schema}.pairings (
    department_code  text NOT NULL,
    community_code   text NOT NULL,
    department_level text GENERATED ALWAYS AS ('department') STORED,
    community_level  text GENERATED ALWAYS AS ('community') STORED,
    PRIMARY KEY (department_code, community_code),
    FOREIGN KEY (department_code, department_level) REFERENCES {schema}.units (code, level),
    FOREIGN KEY (community_code, community_level) REFERENCES {schema}.units (code, level)
);
CREATE INDEX pairings_community_idx ON {schema}.pairings (community_code);
