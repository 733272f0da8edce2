"""The rule tables the screens draw from, as one value: pages and the embed hand `RULE_TABLES` to the
builders in components/, which import no domain module (.importlinter, "components-take-data"). The
rules stay defined where they are (aqi, congestion, parking, vocabulary, clock); this only gathers them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from data.rules import aqi
from data.rules.aqi import AqiLevel
from data.rules.bands import Band
from data.rules.clock import CST
from data.rules.congestion import CONGESTION_BANDS
from data.rules.parking import OCCUPANCY_BANDS
from data.rules.vocabulary import INCIDENT_KINDS, STATUSES, Pair


@dataclass(frozen=True)
class RuleTables:
    congestion_bands: tuple[Band, ...]
    occupancy_bands: tuple[Band, ...]
    aqi_levels: tuple[AqiLevel, ...]
    pollutants: tuple[str, ...]  # in the order the popups list them
    units: Mapping[str, str]  # pollutant -> concentration unit
    incident_kinds: Mapping[str, Pair]  # kind -> (English, Chinese)
    statuses: Mapping[str, Pair]  # workflow state -> (English, Chinese)
    utc_offset: int  # seconds: every time on screen is China Standard Time


RULE_TABLES = RuleTables(
    congestion_bands=CONGESTION_BANDS,
    occupancy_bands=OCCUPANCY_BANDS,
    aqi_levels=aqi.AQI_LEVELS,
    pollutants=aqi.POLLUTANTS,
    units=aqi.UNITS,
    incident_kinds=INCIDENT_KINDS,
    statuses=STATUSES,
    utc_offset=CST,
)
