"""China's Ambient Air Quality Index per HJ 633-2012.

HJ 633-2012 环境空气质量指数(AQI)技术规定(试行) -- pure functions, no I/O.

* Table 1 (空气质量分指数及对应的污染物项目浓度限值): concentration breakpoints,
  ``_TABLE1`` below, including its notes:
  (1) the 1-h SO2/NO2/CO limits are for the real-time report only;
  (2) SO2 1-h above 800 µg/m³: no 1-h IAQI, report the IAQI of the 24-h mean;
  (3) O3 8-h above 800 µg/m³: no 8-h IAQI, report the IAQI of the 1-h mean.
* Formula (1): IAQI_P = (IAQI_Hi - IAQI_Lo) / (BP_Hi - BP_Lo) * (C_P - BP_Lo) + IAQI_Lo,
  rounded UP to an integer (向上进位取整, as published nationally).  Interpolation
  is done in exact rational arithmetic on the decimal value of the input, so
  binary float noise can never push a result over an integer (e.g. PM2.5 35 -> 50).
* Formula (2): AQI = max(IAQI).  Primary pollutant(s): the pollutant(s) with the
  largest IAQI, and none when AQI <= 50; ties are all primary.
* Table 2 (空气质量指数及相关信息): levels, names, 对健康影响情况, 建议采取的措施.
* Appendix A (normative, 空气质量指数类别的表示颜色): RGB colours.

Choices where the standard is silent or needs data we do not get:

* PM2.5 / PM10 have no 1-h breakpoints; ``averaging="1h"`` uses the 24-h table, as
  China's national real-time hourly publication does.
* Note (2): ``iaqi("so2", c, "1h")`` with c > 800 applies the SO2 24-h table to c.
  Both tables give 200 at 800, so the result is continuous and monotone.  A caller
  holding the true 24-h mean should call ``iaqi("so2", mean, "24h")`` instead.
* Note (3): ``iaqi("o3", c, "8h")`` with c > 800 applies the O3 1-h table to c
  (both give 300 at 800).
* Above the highest concentration of Table 1 the IAQI is capped at 500: the
  standard defines no IAQI beyond 500 and the AQI scale ends there ("爆表").
* Concentrations: CO in mg/m³, the others in µg/m³.  None / NaN mean "missing".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from itertools import pairwise

POLLUTANTS: tuple[str, ...] = ("pm25", "pm10", "o3", "no2", "so2", "co")
UNITS: dict[str, str] = {p: "mg/m³" if p == "co" else "µg/m³" for p in POLLUTANTS}
POLLUTANT_LABELS: dict[str, tuple[str, str]] = {
    "pm25": ("细颗粒物 PM2.5", "PM2.5"),
    "pm10": ("可吸入颗粒物 PM10", "PM10"),
    "o3": ("臭氧 O₃", "O₃"),
    "no2": ("二氧化氮 NO₂", "NO₂"),
    "so2": ("二氧化硫 SO₂", "SO₂"),
    "co": ("一氧化碳 CO", "CO"),
}

_IAQI = (0, 50, 100, 150, 200, 300, 400, 500)
# HJ 633-2012 Table 1, concentrations at IAQI 0, 50, 100, 150, 200, 300, 400, 500.
_TABLE1: dict[tuple[str, str], tuple[int, ...]] = {
    ("so2", "24h"): (0, 50, 150, 475, 800, 1600, 2100, 2620),
    ("so2", "1h"): (0, 150, 500, 650, 800),  # note (2) above 800
    ("no2", "24h"): (0, 40, 80, 180, 280, 565, 750, 940),
    ("no2", "1h"): (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    ("pm10", "24h"): (0, 50, 150, 250, 350, 420, 500, 600),
    ("co", "24h"): (0, 2, 4, 14, 24, 36, 48, 60),
    ("co", "1h"): (0, 5, 10, 35, 60, 90, 120, 150),
    ("o3", "1h"): (0, 160, 200, 300, 400, 800, 1000, 1200),
    ("o3", "8h"): (0, 100, 160, 215, 265, 800),  # note (3) above 800
    ("pm25", "24h"): (0, 35, 75, 115, 150, 250, 350, 500),
}
_ABOVE_TOP = {("so2", "1h"): ("so2", "24h"), ("o3", "8h"): ("o3", "1h")}


@dataclass(frozen=True)
class AqiLevel:
    level: int
    low: int
    high: int | None
    name_zh: str
    name_en: str
    color: str
    health_zh: str
    health_en: str
    advice_zh: str
    advice_en: str


AQI_LEVELS: tuple[AqiLevel, ...] = (
    AqiLevel(
        level=1,
        low=0,
        high=50,
        name_zh="优",
        name_en="Excellent",
        color="#00E400",
        health_zh="空气质量令人满意，基本无空气污染",
        health_en="Air quality is satisfactory; there is basically no air pollution.",
        advice_zh="各类人群可正常活动",
        advice_en="Everyone can carry on normal activities.",
    ),
    AqiLevel(
        level=2,
        low=51,
        high=100,
        name_zh="良",
        name_en="Good",
        color="#FFFF00",
        health_zh="空气质量可接受，但某些污染物可能对极少数异常敏感人群健康有较弱影响",
        health_en="Air quality is acceptable, but some pollutants may weakly affect"
        " the health of a very small number of unusually sensitive people.",
        advice_zh="极少数异常敏感人群应减少户外活动",
        advice_en="The very few unusually sensitive people should reduce outdoor activities.",
    ),
    AqiLevel(
        level=3,
        low=101,
        high=150,
        name_zh="轻度污染",
        name_en="Lightly polluted",
        color="#FF7E00",
        health_zh="易感人群症状有轻度加剧，健康人群出现刺激症状",
        health_en="Symptoms of susceptible people are slightly aggravated; healthy people show symptoms of irritation.",
        advice_zh="儿童、老年人及心脏病、呼吸系统疾病患者应减少长时间、高强度的户外锻炼",
        advice_en="Children, the elderly and people with heart or respiratory"
        " diseases should reduce prolonged, high-intensity outdoor exercise.",
    ),
    AqiLevel(
        level=4,
        low=151,
        high=200,
        name_zh="中度污染",
        name_en="Moderately polluted",
        color="#FF0000",
        health_zh="进一步加剧易感人群症状，可能对健康人群心脏、呼吸系统有影响",
        health_en="Symptoms of susceptible people are further aggravated; the heart"
        " and respiratory system of healthy people may be affected.",
        advice_zh="儿童、老年人及心脏病、呼吸系统疾病患者避免长时间、高强度的户外锻炼，一般人群适量减少户外运动",
        advice_en="Children, the elderly and people with heart or respiratory"
        " diseases should avoid prolonged, high-intensity outdoor exercise;"
        " everyone else should moderately reduce outdoor exercise.",
    ),
    AqiLevel(
        level=5,
        low=201,
        high=300,
        name_zh="重度污染",
        name_en="Heavily polluted",
        color="#99004C",
        health_zh="心脏病和肺病患者症状显著加剧，运动耐受力降低，健康人群普遍出现症状",
        health_en="Symptoms of people with heart or lung disease are markedly"
        " aggravated and exercise tolerance drops; symptoms are common among"
        " healthy people.",
        advice_zh="儿童、老年人和心脏病、肺病患者应停留在室内，停止户外运动，一般人群减少户外运动",
        advice_en="Children, the elderly and people with heart or lung disease"
        " should stay indoors and stop outdoor exercise; everyone else should"
        " reduce outdoor exercise.",
    ),
    AqiLevel(
        level=6,
        low=301,
        high=None,
        name_zh="严重污染",
        name_en="Severely polluted",
        color="#7E0023",
        health_zh="健康人群运动耐受力降低，有明显强烈症状，提前出现某些疾病",
        health_en="Exercise tolerance of healthy people drops, with obvious, strong"
        " symptoms; some diseases appear earlier.",
        advice_zh="儿童、老年人和病人应当留在室内，避免体力消耗，一般人群应避免户外活动",
        advice_en="Children, the elderly and the sick should stay indoors and avoid"
        " physical exertion; everyone else should avoid outdoor activities.",
    ),
)


@dataclass(frozen=True)
class AqiResult:
    aqi: int | None
    iaqi: dict[str, int | None]
    primary: tuple[str, ...]
    level: AqiLevel | None


def _table_key(pollutant: str, averaging: str) -> tuple[str, str]:
    if pollutant not in POLLUTANTS:
        raise ValueError(f"unknown pollutant {pollutant!r}; expected one of {POLLUTANTS}")
    if pollutant in ("pm25", "pm10") and averaging == "1h":
        # Table 1 has no 1-h PM limits; the national real-time report uses the 24-h table.
        averaging = "24h"
    if (pollutant, averaging) not in _TABLE1:
        raise ValueError(f"no HJ 633-2012 breakpoints for {pollutant!r} averaging {averaging!r}")
    return pollutant, averaging


def iaqi(pollutant: str, concentration: float | None, averaging: str = "1h") -> int | None:
    """Individual AQI (IAQI) of one pollutant; None when the concentration is None/NaN."""
    key = _table_key(pollutant, averaging)
    if concentration is None:
        return None
    c = float(concentration)
    if math.isnan(c):
        return None
    if c < 0:
        raise ValueError(f"negative {pollutant} concentration: {concentration!r}")
    return _iaqi_of(key, c)


# Exact arithmetic costs ~20 µs a value; a week of hourly station rows (the KPI trends) repeats the same
# few thousand concentrations at every 15-minute bucket, so each is worked out once.
@lru_cache(maxsize=1 << 16)
def _iaqi_of(key: tuple[str, str], c: float) -> int:
    bps = _TABLE1[key]
    if c > bps[-1] and key in _ABOVE_TOP:
        bps = _TABLE1[_ABOVE_TOP[key]]
    if c >= bps[-1]:
        return _IAQI[len(bps) - 1]  # top of the table; 500 caps everything above
    exact = Fraction(str(c))  # the decimal as written, not its binary approximation
    for (bp_lo, i_lo), (bp_hi, i_hi) in pairwise(zip(bps, _IAQI, strict=False)):
        if exact <= bp_hi:
            return math.ceil(Fraction(i_hi - i_lo, bp_hi - bp_lo) * (exact - bp_lo) + i_lo)
    raise AssertionError("unreachable")  # pragma: no cover


def level_for(aqi_value: float) -> AqiLevel:  # float accepts int (PEP 484)
    """AQI level (Table 2) of an AQI value; above 300 is level 6 whatever the value."""
    if math.isnan(aqi_value) or aqi_value < 0:
        raise ValueError(f"invalid AQI value: {aqi_value!r}")
    return next(lv for lv in AQI_LEVELS if lv.high is None or aqi_value <= lv.high)


def hourly_aqi(concentrations: Mapping[str, float | None]) -> AqiResult:
    """Real-time hourly AQI from 1-h concentrations keyed by POLLUTANTS.

    Missing keys count as missing data; unknown keys raise ValueError (a typo such
    as "pm2.5" must not silently drop a pollutant).
    """
    unknown = sorted(set(concentrations) - set(POLLUTANTS))
    if unknown:
        raise ValueError(f"unknown pollutant keys {unknown}; expected {POLLUTANTS}")
    sub = {p: iaqi(p, concentrations.get(p), "1h") for p in POLLUTANTS}
    values = [v for v in sub.values() if v is not None]
    if not values:
        return AqiResult(None, sub, (), None)
    aqi = max(values)
    primary = tuple(p for p in POLLUTANTS if sub[p] == aqi) if aqi > 50 else ()
    return AqiResult(aqi, sub, primary, level_for(aqi))
