//! Hand-written protobuf messages for the subset of the TWS API the fake
//! gateway speaks. Field numbers follow IBKR's published `.proto` schema
//! (TWS API 10.x, `source/proto/*.proto`); only the fields this project reads
//! or writes are declared: protobuf decoders skip unknown fields, so a subset
//! is wire-compatible with the full messages.

mod account;
mod contract;
mod market;
mod order;

pub use account::*;
pub use contract::*;
pub use market::*;
pub use order::*;

/// Offset added to a message id when its body is protobuf-encoded.
pub const PROTOBUF_ID_OFFSET: i32 = 200;

/// Largest frame either side accepts (16 MiB), as TWS does.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Ids of requests the client sends (before the protobuf offset).
pub mod outgoing {
    pub const REQ_MKT_DATA: i32 = 1;
    pub const CANCEL_MKT_DATA: i32 = 2;
    pub const PLACE_ORDER: i32 = 3;
    pub const CANCEL_ORDER: i32 = 4;
    pub const REQ_OPEN_ORDERS: i32 = 5;
    pub const REQ_EXECUTIONS: i32 = 7;
    pub const REQ_IDS: i32 = 8;
    pub const REQ_CONTRACT_DATA: i32 = 9;
    pub const REQ_AUTO_OPEN_ORDERS: i32 = 15;
    pub const REQ_ALL_OPEN_ORDERS: i32 = 16;
    pub const REQ_MANAGED_ACCTS: i32 = 17;
    pub const REQ_HISTORICAL_DATA: i32 = 20;
    pub const CANCEL_HISTORICAL_DATA: i32 = 25;
    pub const REQ_CURRENT_TIME: i32 = 49;
    pub const REQ_GLOBAL_CANCEL: i32 = 58;
    pub const REQ_MARKET_DATA_TYPE: i32 = 59;
    pub const REQ_POSITIONS: i32 = 61;
    pub const REQ_ACCOUNT_SUMMARY: i32 = 62;
    pub const CANCEL_ACCOUNT_SUMMARY: i32 = 63;
    pub const CANCEL_POSITIONS: i32 = 64;
    pub const START_API: i32 = 71;
    pub const REQ_SEC_DEF_OPT_PARAMS: i32 = 78;
    pub const REQ_COMPLETED_ORDERS: i32 = 99;
}

/// Ids of messages the server sends (before the protobuf offset).
pub mod incoming {
    pub const TICK_PRICE: i32 = 1;
    pub const TICK_SIZE: i32 = 2;
    pub const ORDER_STATUS: i32 = 3;
    pub const ERR_MSG: i32 = 4;
    pub const OPEN_ORDER: i32 = 5;
    pub const NEXT_VALID_ID: i32 = 9;
    pub const CONTRACT_DATA: i32 = 10;
    pub const EXECUTION_DATA: i32 = 11;
    pub const MANAGED_ACCTS: i32 = 15;
    pub const HISTORICAL_DATA: i32 = 17;
    pub const TICK_OPTION_COMPUTATION: i32 = 21;
    pub const TICK_STRING: i32 = 46;
    pub const CURRENT_TIME: i32 = 49;
    pub const CONTRACT_DATA_END: i32 = 52;
    pub const OPEN_ORDER_END: i32 = 53;
    pub const EXECUTION_DATA_END: i32 = 55;
    pub const TICK_SNAPSHOT_END: i32 = 57;
    pub const MARKET_DATA_TYPE: i32 = 58;
    pub const COMMISSION_REPORT: i32 = 59;
    pub const POSITION_DATA: i32 = 61;
    pub const POSITION_END: i32 = 62;
    pub const ACCOUNT_SUMMARY: i32 = 63;
    pub const ACCOUNT_SUMMARY_END: i32 = 64;
    pub const SEC_DEF_OPT_PARAMS: i32 = 75;
    pub const SEC_DEF_OPT_PARAMS_END: i32 = 76;
    pub const COMPLETED_ORDER: i32 = 101;
    pub const COMPLETED_ORDERS_END: i32 = 102;
    pub const HISTORICAL_DATA_END: i32 = 108;
}

/// `StartApi`: the first framed request after the version handshake.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StartApi {
    #[prost(int32, optional, tag = "1")]
    pub client_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub optional_capabilities: Option<String>,
}

/// `NextValidId`: the first order id the client may use.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NextValidId {
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
}

/// `ManagedAccounts`: comma-separated account ids.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ManagedAccounts {
    #[prost(string, optional, tag = "1")]
    pub accounts_list: Option<String>,
}

/// `ErrorMessage`: errors, warnings and system notices. `id` is -1 for
/// notices not bound to a request or order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ErrorMessage {
    #[prost(int32, optional, tag = "1")]
    pub id: Option<i32>,
    #[prost(int64, optional, tag = "2")]
    pub error_time: Option<i64>,
    #[prost(int32, optional, tag = "3")]
    pub error_code: Option<i32>,
    #[prost(string, optional, tag = "4")]
    pub error_msg: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub advanced_order_reject_json: Option<String>,
}

/// `CurrentTime`: server clock in Unix seconds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CurrentTime {
    #[prost(int64, optional, tag = "1")]
    pub current_time: Option<i64>,
}

/// A request whose only field is a request id at tag 1 (cancels, `*End`
/// markers and the like).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReqIdOnly {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
}

/// A message with no fields (`PositionEnd`, `CompletedOrdersEnd`, ...).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}
