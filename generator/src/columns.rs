//! The CSV columns, in file order, as the original pipeline named them.

/// The 17 column names, in the order every file has them.
pub const COLUMNS: [&str; 17] = [
    "Transaction_ID",
    "Transaction_Date",
    "Transaction_Time",
    "Total_Amount",
    "Payment_Method",
    "Store_ID",
    "Store_Name",
    "Store_Location",
    "Product_ID",
    "Product_Name",
    "Product_Category",
    "Product_Price",
    "Quantity_Sold",
    "Customer_ID",
    "Customer_Age",
    "Customer_Gender",
    "Customer_Membership",
];

/// The first line of every file, without its line feed.
pub const HEADER: &str = "Transaction_ID,Transaction_Date,Transaction_Time,Total_Amount,\
Payment_Method,Store_ID,Store_Name,Store_Location,Product_ID,Product_Name,Product_Category,\
Product_Price,Quantity_Sold,Customer_ID,Customer_Age,Customer_Gender,Customer_Membership";

/// Column positions used when building and corrupting rows.
pub(crate) mod index {
    pub const TRANSACTION_DATE: usize = 1;
    pub const TOTAL_AMOUNT: usize = 3;
    pub const STORE_NAME: usize = 6;
    pub const PRODUCT_NAME: usize = 9;
    pub const QUANTITY_SOLD: usize = 12;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_the_columns_joined() {
        assert_eq!(HEADER, COLUMNS.join(","));
        assert_eq!(COLUMNS[index::TRANSACTION_DATE], "Transaction_Date");
        assert_eq!(COLUMNS[index::TOTAL_AMOUNT], "Total_Amount");
        assert_eq!(COLUMNS[index::STORE_NAME], "Store_Name");
        assert_eq!(COLUMNS[index::PRODUCT_NAME], "Product_Name");
        assert_eq!(COLUMNS[index::QUANTITY_SOLD], "Quantity_Sold");
    }
}
