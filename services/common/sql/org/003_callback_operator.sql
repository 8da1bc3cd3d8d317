-- The call-back operator (回访员, issue 12): records the rating a resident
-- gives by phone on the workbench's 回访 page, on the resident's behalf,
-- for the resolved requests of the sub-district the operator serves. The
-- role joins the CHECK and the generated unit level (a sub-district).
ALTER TABLE {schema}.staff DROP CONSTRAINT staff_role_check;
ALTER TABLE {schema}.staff ADD CONSTRAINT staff_role_check
    CHECK (role IN ('grid_worker', 'grid_cadre', 'community_duty',
                    'community_secretary', 'subdistrict_coordinator',
                    'department_contact', 'district_leader', 'callback_operator'));
ALTER TABLE {schema}.staff DROP COLUMN unit_level;
ALTER TABLE {schema}.staff ADD COLUMN unit_level text GENERATED ALWAYS AS (
    CASE role
        WHEN 'grid_worker' THEN 'grid'
        WHEN 'grid_cadre' THEN 'grid'
        WHEN 'community_duty' THEN 'community'
        WHEN 'community_secretary' THEN 'community'
        WHEN 'subdistrict_coordinator' THEN 'subdistrict'
        WHEN 'department_contact' THEN 'department'
        WHEN 'district_leader' THEN 'district'
        WHEN 'callback_operator' THEN 'subdistrict'
    END) STORED;
ALTER TABLE {schema}.staff ADD FOREIGN KEY (unit_code, unit_level)
    REFERENCES {schema}.units (code, level);
