-- An inventory written by camscan's schema-1 code (camscan/inventory.py before issue 13): two scans
-- of one site, the second finding a Hikvision unit. tests/test_store.py loads it to test the migration.
PRAGMA user_version = 1;
BEGIN TRANSACTION;
CREATE TABLE addresses (
        key TEXT NOT NULL, ip TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
        PRIMARY KEY (key, ip)
    );
INSERT INTO "addresses" VALUES('mac:00:40:8c:00:00:01','198.51.100.10','2026-11-30T02:00:00Z','2026-12-01T02:00:00Z');
INSERT INTO "addresses" VALUES('mac:00:40:8c:00:00:02','198.51.100.11','2026-11-30T02:00:00Z','2026-11-30T02:00:00Z');
INSERT INTO "addresses" VALUES('mac:58:50:ed:00:00:03','198.51.100.12','2026-12-01T02:00:00Z','2026-12-01T02:00:00Z');
CREATE TABLE devices (
        key TEXT PRIMARY KEY,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        first_scan INTEGER NOT NULL,
        last_scan INTEGER NOT NULL
    );
INSERT INTO "devices" VALUES('mac:00:40:8c:00:00:01','2026-11-30T02:00:00Z','2026-12-01T02:00:00Z',1,2);
INSERT INTO "devices" VALUES('mac:00:40:8c:00:00:02','2026-11-30T02:00:00Z','2026-11-30T02:00:00Z',1,1);
INSERT INTO "devices" VALUES('mac:58:50:ed:00:00:03','2026-12-01T02:00:00Z','2026-12-01T02:00:00Z',2,2);
CREATE TABLE scans (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started TEXT NOT NULL,
        finished TEXT NOT NULL,
        targets TEXT NOT NULL,
        devices INTEGER NOT NULL,
        flagged INTEGER NOT NULL,
        report TEXT NOT NULL          -- the JSON report (schema_version 1) of this scan
    );
INSERT INTO "scans" VALUES(1,'2026-11-30T02:00:00Z','2026-11-30T02:00:00Z','["198.51.100.0/24"]',2,0,'{"schema_version": 1, "scan_id": 1, "scan": {"start": "2026-11-30T02:00:00.000000Z", "end": "2026-11-30T02:00:00.000000Z", "targets": ["198.51.100.0/24"], "interfaces": ["eth0"], "methods": ["wsd-multicast"]}, "summary": {"devices": 2, "sanctioned": 0, "review": 0, "clear": 2, "unknown": 0, "skips": 0, "new_flagged": 0}, "diff": {"previous_scan": null, "previous_started": null, "new_flagged": [], "changes": []}, "devices": [{"key": "mac:00:40:8c:00:00:01", "ip": "198.51.100.10", "mac": "00:40:8c:00:00:01", "manufacturer": "Axis", "brand": "Axis", "model": "M1", "firmware": "1.0", "serial": null, "hardware_id": null, "hostname": null, "endpoint": null, "xaddrs": [], "verdict": "clear", "confidence": 0.0, "findings": [], "warnings": [], "matches": [], "evidence": [], "seen_by": ["wsd"]}, {"key": "mac:00:40:8c:00:00:02", "ip": "198.51.100.11", "mac": "00:40:8c:00:00:02", "manufacturer": "Axis", "brand": "Axis", "model": "M1", "firmware": "1.0", "serial": null, "hardware_id": null, "hostname": null, "endpoint": null, "xaddrs": [], "verdict": "clear", "confidence": 0.0, "findings": [], "warnings": [], "matches": [], "evidence": [], "seen_by": ["wsd"]}], "skips": [], "coverage": [], "notes": [], "legal_note": ""}');
INSERT INTO "scans" VALUES(2,'2026-12-01T02:00:00Z','2026-12-01T02:00:00Z','["198.51.100.0/24"]',2,1,'{"schema_version": 1, "scan_id": 2, "scan": {"start": "2026-12-01T02:00:00.000000Z", "end": "2026-12-01T02:00:00.000000Z", "targets": ["198.51.100.0/24"], "interfaces": ["eth0"], "methods": ["wsd-multicast"]}, "summary": {"devices": 2, "sanctioned": 1, "review": 0, "clear": 1, "unknown": 0, "skips": 0, "new_flagged": 1}, "diff": {"previous_scan": 1, "previous_started": "2026-11-30T02:00:00Z", "new_flagged": ["mac:58:50:ed:00:00:03"], "changes": [{"kind": "new", "key": "mac:58:50:ed:00:00:03", "ip": "198.51.100.12", "before": null, "after": "sanctioned", "device": "Hikvision M1"}, {"kind": "gone", "key": "mac:00:40:8c:00:00:02", "ip": "198.51.100.11", "before": "clear", "after": null, "device": "Axis M1"}, {"kind": "firmware", "key": "mac:00:40:8c:00:00:01", "ip": "198.51.100.10", "before": "1.0", "after": "2.0", "device": "Axis M1"}]}, "devices": [{"key": "mac:00:40:8c:00:00:01", "ip": "198.51.100.10", "mac": "00:40:8c:00:00:01", "manufacturer": "Axis", "brand": "Axis", "model": "M1", "firmware": "2.0", "serial": null, "hardware_id": null, "hostname": null, "endpoint": null, "xaddrs": [], "verdict": "clear", "confidence": 0.0, "findings": [], "warnings": [], "matches": [], "evidence": [], "seen_by": ["wsd"]}, {"key": "mac:58:50:ed:00:00:03", "ip": "198.51.100.12", "mac": "58:50:ed:00:00:03", "manufacturer": "Hikvision", "brand": "Hikvision", "model": "M1", "firmware": "1.0", "serial": null, "hardware_id": null, "hostname": null, "endpoint": null, "xaddrs": [], "verdict": "sanctioned", "confidence": 0.0, "findings": [], "warnings": [], "matches": [], "evidence": [], "seen_by": ["wsd"]}], "skips": [], "coverage": [], "notes": [], "legal_note": ""}');
CREATE TABLE sightings (
        scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        ip TEXT, mac TEXT, manufacturer TEXT, brand TEXT, model TEXT, firmware TEXT, verdict TEXT,
        record TEXT NOT NULL,         -- the device's JSON record, evidence included
        PRIMARY KEY (scan_id, key)
    );
INSERT INTO "sightings" VALUES(1,'mac:00:40:8c:00:00:01','198.51.100.10','00:40:8c:00:00:01','Axis','Axis','M1','1.0','clear','{"key": "mac:00:40:8c:00:00:01", "ip": "198.51.100.10", "mac": "00:40:8c:00:00:01", "manufacturer": "Axis", "brand": "Axis", "model": "M1", "firmware": "1.0", "serial": null, "hardware_id": null, "hostname": null, "endpoint": null, "xaddrs": [], "verdict": "clear", "confidence": 0.0, "findings": [], "warnings": [], "matches": [], "evidence": [], "seen_by": ["wsd"]}');
INSERT INTO "sightings" VALUES(1,'mac:00:40:8c:00:00:02','198.51.100.11','00:40:8c:00:00:02','Axis','Axis','M1','1.0','clear','{"key": "mac:00:40:8c:00:00:02", "ip": "198.51.100.11", "mac": "00:40:8c:00:00:02", "manufacturer": "Axis", "brand": "Axis", "model": "M1", "firmware": "1.0", "serial": null, "hardware_id": null, "hostname": null, "endpoint": null, "xaddrs": [], "verdict": "clear", "confidence": 0.0, "findings": [], "warnings": [], "matches": [], "evidence": [], "seen_by": ["wsd"]}');
INSERT INTO "sightings" VALUES(2,'mac:00:40:8c:00:00:01','198.51.100.10','00:40:8c:00:00:01','Axis','Axis','M1','2.0','clear','{"key": "mac:00:40:8c:00:00:01", "ip": "198.51.100.10", "mac": "00:40:8c:00:00:01", "manufacturer": "Axis", "brand": "Axis", "model": "M1", "firmware": "2.0", "serial": null, "hardware_id": null, "hostname": null, "endpoint": null, "xaddrs": [], "verdict": "clear", "confidence": 0.0, "findings": [], "warnings": [], "matches": [], "evidence": [], "seen_by": ["wsd"]}');
INSERT INTO "sightings" VALUES(2,'mac:58:50:ed:00:00:03','198.51.100.12','58:50:ed:00:00:03','Hikvision','Hikvision','M1','1.0','sanctioned','{"key": "mac:58:50:ed:00:00:03", "ip": "198.51.100.12", "mac": "58:50:ed:00:00:03", "manufacturer": "Hikvision", "brand": "Hikvision", "model": "M1", "firmware": "1.0", "serial": null, "hardware_id": null, "hostname": null, "endpoint": null, "xaddrs": [], "verdict": "sanctioned", "confidence": 0.0, "findings": [], "warnings": [], "matches": [], "evidence": [], "seen_by": ["wsd"]}');
CREATE INDEX sightings_key ON sightings(key);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('scans',2);
COMMIT;
