//! Market data: ticks, snapshots, market-data type, historical bars.

use super::Contract;

/// `MarketDataRequest` (reqMktData).
#[derive(Clone, PartialEq, prost::Message)]
pub struct MarketDataRequest {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(string, optional, tag = "3")]
    pub generic_tick_list: Option<String>,
    #[prost(bool, optional, tag = "4")]
    pub snapshot: Option<bool>,
    #[prost(bool, optional, tag = "5")]
    pub regulatory_snapshot: Option<bool>,
}

/// `MarketDataTypeRequest` (reqMarketDataType): 1 live, 2 frozen, 3 delayed,
/// 4 delayed-frozen.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MarketDataTypeRequest {
    #[prost(int32, optional, tag = "1")]
    pub market_data_type: Option<i32>,
}

/// `MarketDataType`: which kind of data a market-data request is served.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MarketDataType {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub market_data_type: Option<i32>,
}

/// `TickPrice`: a price tick, optionally carrying the matching size.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TickPrice {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub tick_type: Option<i32>,
    #[prost(double, optional, tag = "3")]
    pub price: Option<f64>,
    /// Decimal as text.
    #[prost(string, optional, tag = "4")]
    pub size: Option<String>,
    #[prost(int32, optional, tag = "5")]
    pub attr_mask: Option<i32>,
}

/// `TickString`: a text tick (e.g. 59, IB dividends).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TickString {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub tick_type: Option<i32>,
    #[prost(string, optional, tag = "3")]
    pub value: Option<String>,
}

/// `TickSize`: a size tick (decimal as text).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TickSize {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub tick_type: Option<i32>,
    #[prost(string, optional, tag = "3")]
    pub size: Option<String>,
}

/// `TickOptionComputation`: implied vol, greeks and model price of an option.
/// TWS marks "not computed" with -1 (vol, prices) or -2 (greeks).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TickOptionComputation {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub tick_type: Option<i32>,
    /// 0 = return-based, 1 = price-based.
    #[prost(int32, optional, tag = "3")]
    pub tick_attrib: Option<i32>,
    #[prost(double, optional, tag = "4")]
    pub implied_vol: Option<f64>,
    #[prost(double, optional, tag = "5")]
    pub delta: Option<f64>,
    #[prost(double, optional, tag = "6")]
    pub opt_price: Option<f64>,
    #[prost(double, optional, tag = "7")]
    pub pv_dividend: Option<f64>,
    #[prost(double, optional, tag = "8")]
    pub gamma: Option<f64>,
    #[prost(double, optional, tag = "9")]
    pub vega: Option<f64>,
    #[prost(double, optional, tag = "10")]
    pub theta: Option<f64>,
    #[prost(double, optional, tag = "11")]
    pub und_price: Option<f64>,
}

/// `HistoricalDataRequest` (reqHistoricalData).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoricalDataRequest {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(string, optional, tag = "3")]
    pub end_date_time: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub bar_size_setting: Option<String>,
    /// e.g. `30 D`, `1 Y`.
    #[prost(string, optional, tag = "5")]
    pub duration: Option<String>,
    #[prost(bool, optional, tag = "6")]
    pub use_rth: Option<bool>,
    #[prost(string, optional, tag = "7")]
    pub what_to_show: Option<String>,
    #[prost(bool, optional, tag = "9")]
    pub keep_up_to_date: Option<bool>,
}

/// `HistoricalDataBar`: one bar; `date` is `YYYYMMDD` for daily bars.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoricalDataBar {
    #[prost(string, optional, tag = "1")]
    pub date: Option<String>,
    #[prost(double, optional, tag = "2")]
    pub open: Option<f64>,
    #[prost(double, optional, tag = "3")]
    pub high: Option<f64>,
    #[prost(double, optional, tag = "4")]
    pub low: Option<f64>,
    #[prost(double, optional, tag = "5")]
    pub close: Option<f64>,
    #[prost(string, optional, tag = "6")]
    pub volume: Option<String>,
    #[prost(string, optional, tag = "7")]
    pub wap: Option<String>,
    #[prost(int32, optional, tag = "8")]
    pub bar_count: Option<i32>,
}

/// `HistoricalData`: the bars of one request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoricalData {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(message, repeated, tag = "2")]
    pub historical_data_bars: Vec<HistoricalDataBar>,
}

/// `HistoricalDataEnd`: closes a historical request with its time range.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoricalDataEnd {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub start_date_str: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub end_date_str: Option<String>,
}
