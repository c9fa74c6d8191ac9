pub mod baseline;
