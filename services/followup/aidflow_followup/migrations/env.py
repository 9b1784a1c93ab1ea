from aidflow_followup.orm import Base
from aidflow_shared.migrations import run_env

run_env(Base.metadata)
