"""Connection strings the tests of the database layer share: a Neon pair (pooled and
direct) and a plain one, all with the same password, which no error may repeat."""

PASSWORD = "Sup3r-s3cr3t"
NEON_POOLED = (
    f"postgresql://alex:{PASSWORD}@ep-cool-name-123456-pooler.eu-central-1.aws.neon.tech"
    "/neondb?sslmode=require&channel_binding=require"
)
NEON_DIRECT = NEON_POOLED.replace("-pooler", "")
BASE = f"postgresql://alice:{PASSWORD}@db.example:5433/todos"
