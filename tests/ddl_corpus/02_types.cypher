/* Every type Kuzu 0.11.3 accepts in a column, spelled in several ways. */
CREATE NODE TABLE Everything (
    id SERIAL,
    i8 INT8 DEFAULT -(128), i16 INT16 DEFAULT 32767, i32 INT32 DEFAULT -(7), i INT DEFAULT 5,
    i64 INT64, i128 INT128 DEFAULT 9007199254740991,
    u8 UINT8 DEFAULT 255, u16 UINT16, u32 UINT32 DEFAULT 4294967295, u64 UINT64,
    f FLOAT DEFAULT 1.5, r REAL, f4 FLOAT4, d DOUBLE DEFAULT -(2.5e3), f8 FLOAT8 DEFAULT 3,
    dec DECIMAL(10, 2) DEFAULT 12.5, dec2 decimal(38,0), dec3 DECIMAL DEFAULT CAST('1.125' AS DECIMAL(18, 3)),
    b BOOL DEFAULT true, b2 BOOLEAN DEFAULT FALSE,
    s STRING DEFAULT 'it\'s', s2 STRING DEFAULT "double", blob BLOB, by BYTEA,
    u UUID DEFAULT CAST('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' AS UUID),
    dt DATE DEFAULT date('2024-02-29'),
    ts TIMESTAMP DEFAULT timestamp('2024-01-02 03:04:05'),
    tns TIMESTAMP_NS, tms TIMESTAMP_MS, tsec TIMESTAMP_SEC,
    ttz TIMESTAMP_TZ DEFAULT CAST('2024-01-02 03:04:05+02:00' AS TIMESTAMP_TZ),
    iv INTERVAL,
    l INT64[], l2 STRING[][], a DOUBLE[3], la INT32[2][],
    st STRUCT(name STRING, tags STRING[], inner STRUCT(x INT8, y DOUBLE[2])),
    un UNION(num INT64, txt STRING),
    m MAP(STRING, INT64[]), m2 map(int32, struct(a int64)),
    PRIMARY KEY (id)
);
CREATE NODE TABLE `Odd Names` (`the key` STRING PRIMARY KEY, `select` INT64, `ünï ✓` STRING);
CREATE NODE TABLE k_uuid (k UUID PRIMARY KEY);
CREATE NODE TABLE k_date (k DATE, PRIMARY KEY (k));
CREATE NODE TABLE k_decimal (k DECIMAL(12, 4) PRIMARY KEY);
CREATE REL TABLE Links (
    FROM Everything TO `Odd Names`, FROM `Odd Names` TO Everything, FROM k_uuid TO k_date,
    weight DOUBLE DEFAULT 1.0, label STRING, at TIMESTAMP, seq SERIAL,
    one_one
);
CREATE REL TABLE Owns (FROM k_uuid TO k_decimal, ONE_MANY);
COMMENT ON TABLE `Odd Names` IS 'names that need quoting; \'quotes\' and "double quotes"';
