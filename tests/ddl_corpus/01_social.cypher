// A small social graph, written the way the Kuzu docs write it.
CREATE NODE TABLE User (name STRING, age INT64 DEFAULT 0, PRIMARY KEY (name));
CREATE NODE TABLE City (name STRING PRIMARY KEY, population INT64);
CREATE REL TABLE Follows (FROM User TO User, since INT64, MANY_MANY);
CREATE REL TABLE LivesIn (FROM User TO City, MANY_ONE);
COMMENT ON TABLE User IS 'people who sign up';

/* later migrations */
ALTER TABLE User ADD IF NOT EXISTS email STRING DEFAULT '';
ALTER TABLE User ADD IF NOT EXISTS email STRING;      // exists: changes nothing
ALTER TABLE City RENAME population TO inhabitants;
ALTER TABLE LivesIn RENAME TO lives_in;
MATCH (u:User) RETURN count(u);                       // not DDL: skipped when recording
create node table if not exists City (name STRING primary key);
drop table if exists Nobody;
