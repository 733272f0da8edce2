"""The report's six leading smart cities (UN-Habitat 2020, tables 2.3-2.9) and their simulation scale."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    key: str
    name_zh: str
    name_en: str
    center: tuple[float, float]  # (lat, lon) WGS84, the city's traditional centre
    zoom: int
    # Simulation shape. Typical seasonal PM2.5 (µg/m³, 24-h mean) from published annual means of the
    # Ministry of Ecology and Environment's bulletins, rounded; used only to shape simulated data.
    pm25_typical: float
    segments: int = 2000
    parking_lots: int = 500
    aq_stations: int = 20
    # Perceived events a day; Hangzhou's ~30,000 comes from the report (ch. 3.2.1.2), the others scaled.
    events_per_day: int = 12000


CITIES: dict[str, City] = {
    c.key: c
    for c in (
        City("beijing", "北京", "Beijing", (39.9087, 116.3975), 11, pm25_typical=38, events_per_day=26000),
        City("shanghai", "上海", "Shanghai", (31.2304, 121.4737), 11, pm25_typical=32, events_per_day=28000),
        City("guangzhou", "广州", "Guangzhou", (23.1291, 113.2644), 11, pm25_typical=28, events_per_day=20000),
        City("shenzhen", "深圳", "Shenzhen", (22.5431, 114.0579), 11, pm25_typical=20, events_per_day=20000),
        City("hangzhou", "杭州", "Hangzhou", (30.2741, 120.1551), 11, pm25_typical=35, events_per_day=30000),
        City("xiongan", "雄安", "Xiong'an", (39.0300, 115.9900), 11, pm25_typical=48, events_per_day=3000),
    )
}

DEFAULT_CITY = "hangzhou"


class UnknownCityError(ValueError):
    """Raised for a city key that is not one of the six."""


def get_city(key: str | None) -> City:
    normalized = (key or DEFAULT_CITY).strip().lower().replace("'", "").replace("-", "")
    try:
        return CITIES[normalized]
    except KeyError:
        raise UnknownCityError(key) from None
