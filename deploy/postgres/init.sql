-- One database per service: a service never reads another's tables.
-- Runs once, when the PostgreSQL data volume is first initialised, as the owner user.
CREATE DATABASE intake;
CREATE DATABASE review;
CREATE DATABASE payout;
CREATE DATABASE followup;
