/*  gz_category: the request categories. See gz_category.h.
    The list follows DOMAIN.md ("road, sanitation, property management,
    dispute, elderly care, safety hazard, public order, noise, parking,
    utilities, social security help, customs and banquets").  */
#include "gz_category.h"

#include <string.h>

static const gz_attr_value_t s_utility_values[] = {
    {"water", "供水"}, {"power", "供电"}, {"gas", "燃气"}, {"heating", "供暖"}, {NULL, NULL}};
static const gz_attr_t s_utility_attrs[] = {
    {"utility_type", "singlevaluelist", true, "哪一类设施出了问题？", s_utility_values},
    {NULL, NULL, false, NULL, NULL}};

static const gz_attr_value_t s_yes_no[] = {{"yes", "是"}, {"no", "否"}, {NULL, NULL}};
static const gz_attr_t s_hazard_attrs[] = {
    {"urgent", "singlevaluelist", false, "是否正在危及人身安全？", s_yes_no},
    {NULL, NULL, false, NULL, NULL}};

static const gz_attr_t s_dispute_attrs[] = {{"households", "number", false, "涉及几户？", NULL},
                                            {NULL, NULL, false, NULL, NULL}};

static const gz_category_t s_categories[] = {
    {"road", "道路设施", "道路破损、井盖缺失、路灯不亮等", "infrastructure", "道路,井盖,路灯,台阶",
     NULL},
    {"sanitation", "环境卫生", "垃圾清运、楼道杂物、污水外溢等", "environment",
     "垃圾,卫生,杂物,异味", NULL},
    {"property", "物业管理", "电梯、门禁、楼道灯、公共设施维修等", "housing",
     "物业,电梯,门禁,楼道灯", NULL},
    {"dispute", "矛盾纠纷", "邻里、家庭、物业等矛盾纠纷调解", "community", "纠纷,调解,邻里",
     s_dispute_attrs},
    {"elderly_care", "养老服务", "独居老人照料、助餐、陪诊等", "welfare", "老人,独居,助餐,陪诊",
     NULL},
    {"safety_hazard", "安全隐患", "消防通道堵塞、燃气泄漏、危房等", "safety", "消防,隐患,危险,燃气",
     s_hazard_attrs},
    {"public_order", "治安秩序", "可疑人员、盗窃、占道经营等", "safety", "治安,盗窃,占道", NULL},
    {"noise", "噪音扰民", "装修、商铺、夜间施工噪音", "environment", "噪音,装修,扰民", NULL},
    {"parking", "停车管理", "乱停乱放、占用消防通道、车位纠纷", "infrastructure", "停车,车位,乱停",
     NULL},
    {"utilities", "水电气暖", "停水停电、燃气、供暖问题", "infrastructure", "停水,停电,燃气,供暖",
     s_utility_attrs},
    {"social_security", "社保救助", "低保、医保、就业、困难救助咨询", "welfare",
     "低保,医保,救助,就业", NULL},
    {"customs", "移风易俗", "红白喜事报备、大操大办、合约食堂", "community", "红白喜事,报备,宴席",
     NULL},
    {"other", "其他", "以上类别以外的问题", "other", "其他", NULL},
};

const gz_category_t *
gz_category_all (size_t *count_p)
{
    *count_p = sizeof s_categories / sizeof s_categories[0];
    return s_categories;
}

const gz_category_t *
gz_category_find (const char *code)
{
    if (!code)
        return NULL;
    for (size_t i = 0; i < sizeof s_categories / sizeof s_categories[0]; i++)
        if (strcmp (s_categories[i].code, code) == 0)
            return &s_categories[i];
    return NULL;
}

size_t
gz_category_attr_count (const gz_category_t *cat)
{
    size_t n = 0;
    for (const gz_attr_t *a = cat->attrs; a && a->code; a++)
        n++;
    return n;
}
