"""What every role's settings model shares: the models are the roles' documented interfaces
and, composed into the PoP spec (stacks/spec/models.py), the spec's own sections, so unknown
keys are errors and values are immutable here as there."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Port = Annotated[int, Field(ge=1, le=65_535)]


class RoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
