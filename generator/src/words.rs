//! The vocabulary of the mock data: word lists for names, cities, categories and choices.
//!
//! Entries are indexed by position from seeded draws, so editing, reordering or inserting an
//! entry changes the generated files for every seed. Append-only changes still change the
//! output (list lengths are part of the draws); treat these lists as frozen.
//! No list holds duplicates, so picking a different index always gives a different text.

/// First word of a store name.
pub(crate) const STORE_FIRST: [&str; 24] = [
    "Harbor",
    "Sunrise",
    "Maple",
    "Riverside",
    "Golden",
    "Pine",
    "Lakeside",
    "Summit",
    "Cedar",
    "Meadow",
    "Oak",
    "Bayview",
    "Prairie",
    "Hilltop",
    "Willow",
    "Granite",
    "Silver",
    "Northgate",
    "Evergreen",
    "Coastal",
    "Redwood",
    "Parkside",
    "Union",
    "Liberty",
];

/// Middle word of a store name.
pub(crate) const STORE_MIDDLE: [&str; 12] = [
    "Fresh", "Value", "Family", "Corner", "City", "Country", "Urban", "Daily", "Prime", "Budget",
    "Select", "Home",
];

/// Last word of a store name.
pub(crate) const STORE_LAST: [&str; 10] = [
    "Market",
    "Mart",
    "Grocers",
    "Outlet",
    "Emporium",
    "Superstore",
    "Depot",
    "Bazaar",
    "Store",
    "Trading Co.",
];

/// Store locations, written `City- State` like the original data. Some city names hold a
/// hyphen or an apostrophe, and some city names repeat in another state.
pub(crate) const CITIES: [(&str, &str); 40] = [
    ("Springfield", "IL"),
    ("Winston-Salem", "NC"),
    ("Wilkes-Barre", "PA"),
    ("Portland", "OR"),
    ("Austin", "TX"),
    ("Denver", "CO"),
    ("Columbus", "OH"),
    ("Madison", "WI"),
    ("Savannah", "GA"),
    ("Boise", "ID"),
    ("Tucson", "AZ"),
    ("Omaha", "NE"),
    ("Raleigh", "NC"),
    ("Buffalo", "NY"),
    ("Spokane", "WA"),
    ("Albany", "NY"),
    ("Reno", "NV"),
    ("Tampa", "FL"),
    ("Little Rock", "AR"),
    ("Salt Lake City", "UT"),
    ("Des Moines", "IA"),
    ("Fort Worth", "TX"),
    ("Baton Rouge", "LA"),
    ("Ann Arbor", "MI"),
    ("Lexington", "KY"),
    ("Chattanooga", "TN"),
    ("Coeur d'Alene", "ID"),
    ("Billings", "MT"),
    ("Fargo", "ND"),
    ("Burlington", "VT"),
    ("Portland", "ME"),
    ("Springfield", "MO"),
    ("Santa Fe", "NM"),
    ("Anchorage", "AK"),
    ("Honolulu", "HI"),
    ("Sioux Falls", "SD"),
    ("Charleston", "SC"),
    ("Richmond", "VA"),
    ("Hartford", "CT"),
    ("Scranton", "PA"),
];

/// Product categories; `Home & Kitchen` keeps an ampersand in the data on purpose.
pub(crate) const CATEGORIES: [&str; 8] = [
    "Electronics",
    "Clothing",
    "Groceries",
    "Home & Kitchen",
    "Beauty",
    "Sports",
    "Toys",
    "Books",
];

/// Price range in cents, per category (same order as [`CATEGORIES`]).
pub(crate) const PRICE_CENTS: [(u64, u64); 8] = [
    (999, 99_999),
    (499, 19_999),
    (50, 4_999),
    (299, 29_999),
    (199, 9_999),
    (299, 49_999),
    (199, 14_999),
    (299, 5_999),
];

/// Lowest and highest price any product can have, in cents.
pub(crate) const PRICE_RANGE: (u64, u64) = (50, 99_999);

/// Brand that opens every product name.
pub(crate) const BRANDS: [&str; 12] = [
    "Acme",
    "Northwind",
    "Contoso",
    "Globex",
    "Initech",
    "Umbrella",
    "Vertex",
    "Zenith",
    "Apex",
    "Nimbus",
    "Orion",
    "Polaris",
];

/// Product items per category (same order as [`CATEGORIES`]). Commas and double quotes are
/// here on purpose, so that files exercise RFC 4180 quoting.
pub(crate) const ITEMS: [[&str; 10]; 8] = [
    [
        "Cable, USB-C 2m",
        "Wireless Mouse",
        "Bluetooth Speaker",
        "Charger, 65W",
        "Noise-Cancelling Headphones",
        "27\" Monitor",
        "Smart Watch",
        "Power Bank 20000mAh",
        "HDMI Cable, 3m",
        "Webcam 1080p",
    ],
    [
        "T-Shirt, Crew Neck",
        "Denim Jeans",
        "Rain Jacket",
        "Wool Socks, 3-Pack",
        "Hoodie",
        "Running Shorts",
        "Summer Dress",
        "Leather Belt",
        "Beanie",
        "Flannel Shirt",
    ],
    [
        "Coffee Beans, 1kg",
        "Olive Oil",
        "Basmati Rice 5kg",
        "Pasta, Penne",
        "Honey",
        "Oat Milk",
        "Dark Chocolate",
        "Green Tea",
        "Granola",
        "Maple Syrup",
    ],
    [
        "12\" Pan",
        "Knife Set, 5-Piece",
        "Cutting Board",
        "French Press",
        "Towel Set",
        "Blender",
        "Storage Jars, Set of 4",
        "Dutch Oven",
        "Table Lamp",
        "Throw Pillow",
    ],
    [
        "Shampoo",
        "Face Cream, SPF 30",
        "Lip Balm",
        "Hair Dryer",
        "Perfume 50ml",
        "Nail Polish",
        "Body Lotion",
        "Makeup Brush Set",
        "Sunscreen, SPF 50",
        "Beard Oil",
    ],
    [
        "Yoga Mat",
        "Dumbbells, 2x5kg",
        "Tennis Racket",
        "Soccer Ball",
        "Water Bottle",
        "Jump Rope",
        "Cycling Gloves",
        "Resistance Bands",
        "Running Shoes",
        "Swim Goggles",
    ],
    [
        "Puzzle, 500 Pieces",
        "Building Blocks",
        "Toy Car",
        "Plush Bear",
        "Board Game",
        "Kite",
        "Doll House",
        "Yo-Yo",
        "Water Gun",
        "Science Kit",
    ],
    [
        "Cookbook, Vol. 2",
        "Mystery Novel",
        "The \"Quiet\" Garden",
        "Travel Guide",
        "Poetry Collection",
        "Children's Atlas",
        "History of Rome",
        "Sci-Fi Anthology",
        "Self-Help Journal",
        "Graphic Novel",
    ],
];

/// Payment methods, equally likely.
pub(crate) const PAYMENT_METHODS: [&str; 4] =
    ["Cash", "Credit Card", "Debit Card", "Mobile Payment"];

/// Customer genders with their weights (percent).
pub(crate) const GENDERS: [(&str, u64); 3] = [("Male", 48), ("Female", 48), ("Other", 4)];

/// Membership levels with their weights (percent).
pub(crate) const MEMBERSHIPS: [(&str, u64); 5] = [
    ("None", 40),
    ("Bronze", 25),
    ("Silver", 18),
    ("Gold", 12),
    ("Platinum", 5),
];

/// Youngest and oldest customer.
pub(crate) const AGE_RANGE: (u64, u64) = (18, 80);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn unique<T: std::hash::Hash + Eq>(items: impl IntoIterator<Item = T>) -> bool {
        let mut seen = HashSet::new();
        items.into_iter().all(|item| seen.insert(item))
    }

    #[test]
    fn lists_hold_no_duplicates() {
        assert!(unique(STORE_FIRST));
        assert!(unique(STORE_MIDDLE));
        assert!(unique(STORE_LAST));
        assert!(unique(CITIES));
        assert!(unique(CATEGORIES));
        assert!(unique(BRANDS));
        assert!(unique(ITEMS.iter().flatten()));
        assert!(unique(PAYMENT_METHODS));
    }

    #[test]
    fn store_words_need_no_csv_quoting() {
        // Quoted fields are meant to come from product names only, so that a test that finds
        // a quote elsewhere has found a bug.
        let words = STORE_FIRST
            .iter()
            .chain(&STORE_MIDDLE)
            .chain(&STORE_LAST)
            .chain(CITIES.iter().map(|(city, _)| city))
            .chain(CITIES.iter().map(|(_, state)| state));
        for word in words {
            assert!(!word.contains([',', '"', '\r', '\n']), "{word}");
        }
    }

    #[test]
    fn weights_add_up_to_one_hundred() {
        assert_eq!(GENDERS.iter().map(|g| g.1).sum::<u64>(), 100);
        assert_eq!(MEMBERSHIPS.iter().map(|m| m.1).sum::<u64>(), 100);
    }

    #[test]
    fn prices_stay_in_the_global_range() {
        for (lo, hi) in PRICE_CENTS {
            assert!(lo >= PRICE_RANGE.0 && hi <= PRICE_RANGE.1 && lo < hi);
        }
    }
}
