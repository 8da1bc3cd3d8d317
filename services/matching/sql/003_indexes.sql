-- A batch asks, for each open need, which volunteers declined it or let it
-- expire, and who served its household: without these two indexes each
-- of those looks through every offer and service (10,000 needs after
-- 10,000 offers: 50 s instead of well under one).
CREATE INDEX offers_need_idx ON {schema}.offers (need_id);
CREATE INDEX services_need_idx ON {schema}.services (need_id);
