// A history of migrations, as a Flyway user would keep them in one file.
// V1
CREATE NODE TABLE IF NOT EXISTS Person (id INT64 PRIMARY KEY, name STRING);
CREATE NODE TABLE IF NOT EXISTS Company (id INT64 PRIMARY KEY, name STRING);
CREATE NODE TABLE Team (id STRING PRIMARY KEY);
CREATE REL TABLE IF NOT EXISTS WorksAt (FROM Person TO Company, since DATE);

// V2: more pairs, more properties
ALTER TABLE WorksAt ADD FROM Person TO Team;
ALTER TABLE WorksAt ADD IF NOT EXISTS FROM Person TO Team;
ALTER TABLE Person ADD age INT16 DEFAULT -(1);
ALTER TABLE Person ADD nickname STRING DEFAULT 'none';
alter table person add if not exists AGE INT64;   // exists, case-insensitively

/* V3: renames and drops */
ALTER TABLE Person RENAME nickname TO alias;
ALTER TABLE Company RENAME TO Employer;
ALTER TABLE WorksAt DROP FROM Person TO Team;
ALTER TABLE WorksAt DROP IF EXISTS FROM Person TO Team;
ALTER TABLE Person DROP IF EXISTS missing;
ALTER TABLE Person DROP alias;
DROP TABLE Team;
DROP TABLE IF EXISTS Team;
COMMENT ON TABLE Employer IS 'formerly Company';
COMMENT ON TABLE Person IS 'people';
COMMENT ON TABLE Person IS '';

// V4: a second generation of the same names
CREATE NODE TABLE Team (code INT32, PRIMARY KEY (code));
ALTER TABLE WorksAt ADD FROM Person TO Team;
ALTER TABLE WorksAt ADD role STRING DEFAULT 'member';
ALTER TABLE Person ADD alias STRING;
