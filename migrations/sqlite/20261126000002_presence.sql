-- Open tabs per agent per running instance, with a heartbeat, so presence is right across
-- instances and a dead instance's agents do not stay Online.
CREATE TABLE presence (
    instance_id TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    member_id TEXT NOT NULL REFERENCES members(id),
    tabs INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    PRIMARY KEY (instance_id, member_id)
);
CREATE INDEX presence_by_member ON presence (member_id, heartbeat_at);
CREATE INDEX presence_by_heartbeat ON presence (heartbeat_at);
