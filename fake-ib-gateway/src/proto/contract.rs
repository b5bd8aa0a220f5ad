//! Contracts, contract details and option-chain parameters.

/// `Contract`: an instrument (stock, option, or a BAG of legs).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Contract {
    #[prost(int32, optional, tag = "1")]
    pub con_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub symbol: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub sec_type: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub last_trade_date_or_contract_month: Option<String>,
    #[prost(double, optional, tag = "5")]
    pub strike: Option<f64>,
    #[prost(string, optional, tag = "6")]
    pub right: Option<String>,
    #[prost(double, optional, tag = "7")]
    pub multiplier: Option<f64>,
    #[prost(string, optional, tag = "8")]
    pub exchange: Option<String>,
    #[prost(string, optional, tag = "9")]
    pub primary_exch: Option<String>,
    #[prost(string, optional, tag = "10")]
    pub currency: Option<String>,
    #[prost(string, optional, tag = "11")]
    pub local_symbol: Option<String>,
    #[prost(string, optional, tag = "12")]
    pub trading_class: Option<String>,
    #[prost(string, optional, tag = "19")]
    pub combo_legs_descrip: Option<String>,
    #[prost(message, repeated, tag = "20")]
    pub combo_legs: Vec<ComboLeg>,
}

/// `ComboLeg`: one leg of a BAG contract.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ComboLeg {
    #[prost(int32, optional, tag = "1")]
    pub con_id: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub ratio: Option<i32>,
    /// `BUY` or `SELL`.
    #[prost(string, optional, tag = "3")]
    pub action: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub exchange: Option<String>,
    #[prost(double, optional, tag = "9")]
    pub per_leg_price: Option<f64>,
}

/// `ContractDataRequest` (reqContractDetails).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContractDataRequest {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
}

/// `ContractData`: one match of a contract-details request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContractData {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(message, optional, tag = "3")]
    pub contract_details: Option<ContractDetails>,
}

/// `ContractDetails`: the descriptive part of a contract-details answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContractDetails {
    #[prost(string, optional, tag = "1")]
    pub market_name: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub min_tick: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub order_types: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub valid_exchanges: Option<String>,
    #[prost(int32, optional, tag = "6")]
    pub under_con_id: Option<i32>,
    #[prost(string, optional, tag = "7")]
    pub long_name: Option<String>,
    #[prost(string, optional, tag = "8")]
    pub contract_month: Option<String>,
    #[prost(string, optional, tag = "12")]
    pub time_zone_id: Option<String>,
    #[prost(string, optional, tag = "19")]
    pub under_symbol: Option<String>,
    #[prost(string, optional, tag = "20")]
    pub under_sec_type: Option<String>,
    #[prost(string, optional, tag = "22")]
    pub real_expiration_date: Option<String>,
    #[prost(string, optional, tag = "23")]
    pub stock_type: Option<String>,
}

/// `SecDefOptParamsRequest` (reqSecDefOptParams).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SecDefOptParamsRequest {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub underlying_symbol: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub fut_fop_exchange: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub underlying_sec_type: Option<String>,
    #[prost(int32, optional, tag = "5")]
    pub underlying_con_id: Option<i32>,
}

/// `SecDefOptParameter`: expirations and strikes listed on one exchange.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SecDefOptParameter {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub exchange: Option<String>,
    #[prost(int32, optional, tag = "3")]
    pub underlying_con_id: Option<i32>,
    #[prost(string, optional, tag = "4")]
    pub trading_class: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub multiplier: Option<String>,
    #[prost(string, repeated, tag = "6")]
    pub expirations: Vec<String>,
    #[prost(double, repeated, tag = "7")]
    pub strikes: Vec<f64>,
}
