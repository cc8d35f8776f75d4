/* Functions the dashboard's AG Grid column definitions name ({"function": "unitOrder(valueA, valueB)"}). */
var dagfuncs = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});

/* Order unit names LAYER:KIND:UNIT by layer, then kind, then the unit's number (1:c:9 before 1:c:10). */
dagfuncs.unitOrder = function (a, b) {
  const pa = String(a).split(":"), pb = String(b).split(":");
  return (Number(pa[0]) - Number(pb[0])) || pa[1].localeCompare(pb[1]) || (Number(pa[2]) - Number(pb[2]));
};
